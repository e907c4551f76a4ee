/*
 * mosnode's native addon (target mosnode_native): only what Node cannot do itself.
 * Loaded by src/core/native.ts, which documents the JS API and adds the timeouts.
 *
 * ADDON_VERSION changes whenever an export changes shape, so native.ts can refuse a
 * stale build instead of calling functions that no longer mean what it expects.
 */
#include <node_api.h>

#include "napi_util.h"
#include "shm_map.h"
#include "socket_options.h"
#include "tcp_listen.h"
#include "tcp_relay.h"
#include "unix_socket.h"

#define MOSNODE_ADDON_VERSION 5

/* NAPI_MODULE_INIT: context-aware, so the addon also loads in worker threads. No global
 * state: the TCP relay keeps its engine as the environment's instance data. */
NAPI_MODULE_INIT() {
  if (!mosnode_export_int(env, exports, "ADDON_VERSION", MOSNODE_ADDON_VERSION) ||
      !mosnode_init_unix_socket(env, exports) || !mosnode_init_shm_map(env, exports) ||
      !mosnode_init_socket_options(env, exports) || !mosnode_init_tcp_listen(env, exports) ||
      !mosnode_init_tcp_relay(env, exports)) {
    mosnode_throw_pending_or_generic(env, "mosnode_native init");
    return NULL;
  }
  return exports;
}
