/**
 * @module config/default-config
 * The built-in config `mosnode start` runs without `-c`, written as a MOSN JSON document
 * so the loader validates it like any file (see `defaultConfig()` in config/load). Like
 * MOSN's own default it answers every HTTP request with a direct response.
 * Depends on nothing.
 */

/** Address of the default HTTP listener. */
export const DEFAULT_LISTENER_ADDRESS = '127.0.0.1:2046';
/** Port of the default admin API (MOSN's). */
export const DEFAULT_ADMIN_PORT = 34901;
/** What the default listener answers. */
export const DEFAULT_WELCOME_BODY = 'Welcome to mosnode!\n';

/** The default config as a MOSN v2 document. Frozen: copy it before changing it. */
export const DEFAULT_MOSN_CONFIG: Readonly<Record<string, unknown>> = deepFreeze({
  servers: [
    {
      default_log_path: 'stdout',
      default_log_level: 'INFO',
      routers: [
        {
          router_config_name: 'default_router',
          virtual_hosts: [
            {
              name: 'defaultHost',
              domains: ['*'],
              routers: [
                {
                  match: { prefix: '/' },
                  direct_response: { status: 200, body: DEFAULT_WELCOME_BODY },
                },
              ],
            },
          ],
        },
      ],
      listeners: [
        {
          name: 'defaultListener',
          address: DEFAULT_LISTENER_ADDRESS,
          bind_port: true,
          filter_chains: [
            {
              filters: [
                {
                  type: 'proxy',
                  config: { downstream_protocol: 'Http1', router_config_name: 'default_router' },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
  cluster_manager: { clusters: [] },
  admin: {
    address: { socket_address: { address: '127.0.0.1', port_value: DEFAULT_ADMIN_PORT } },
  },
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
