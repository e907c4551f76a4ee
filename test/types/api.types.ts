/**
 * Type tests of the public plugin API (`import ... from 'mosnode'`): compiled by
 * `tsc -p tsconfig.types.json` in `npm test`, never run. A line marked @ts-expect-error
 * must NOT compile: if the API loosens so that it does, the build fails.
 */
import { Transform } from 'node:stream';
import {
  definePlugin,
  defineStreamFilter,
  defineNetworkFilter,
  defineListenerFilter,
  FilterConfigError,
  configObject,
  optionalString,
  HeaderMap,
  type FilterFactoryContext,
  type MosnodePlugin,
  type StreamFilterStatus,
  type StreamReceiverFilterHandler,
  type StreamSenderFilterHandler,
  type ListenerFilterStatus,
  type FilterStatus,
  type StatsCounter,
} from '../../src/api/index.ts';

// A config type flows from parseConfig into createFilters.
const tagger = defineStreamFilter({
  type: 'tagger',
  parseConfig(raw: unknown, context: FilterFactoryContext): { value: string; hits: StatsCounter } {
    const obj = configObject(raw, context.path);
    const value = optionalString(obj, 'value', context.path);
    if (value === undefined) throw new FilterConfigError(`${context.path}.value`, 'a string');
    return { value, hits: context.stats.counter('hits') };
  },
  createFilters(config, chain) {
    const value: string = config.value;
    // @ts-expect-error the config is typed: no such field
    void config.missing;
    chain.addReceiver(
      {
        onReceive(handler: StreamReceiverFilterHandler): StreamFilterStatus {
          config.hits.inc();
          handler.request.headers.set('x-tag', value);
          const body: Buffer | undefined = handler.requestBody;
          void body;
          handler.transformRequestBody(new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) }));
          return 'Continue';
        },
      },
      'AfterRoute',
      { needsBody: false },
    );
    chain.addSender({
      async onSend(handler: StreamSenderFilterHandler): Promise<StreamFilterStatus> {
        handler.response.headers.set('x-status', String(handler.response.status));
        return 'Continue';
      },
    });
    // @ts-expect-error not a receive phase
    chain.addReceiver({ onReceive: () => 'Continue' }, 'BeforeSend');
    // @ts-expect-error not a status
    chain.addReceiver({ onReceive: () => 'Proceed' });
    // @ts-expect-error a sender is not a receiver
    chain.addReceiver({ onSend: () => 'Continue' });
  },
});

// @ts-expect-error createFilters is required
defineStreamFilter({ type: 'broken', parseConfig: () => 1 });

const guard = defineNetworkFilter({
  type: 'guard',
  parseConfig: (): number => 3,
  createFilters(limit, chain, connection) {
    const n: number = limit;
    chain.addReadFilter({
      onData(data: Buffer, endStream: boolean): FilterStatus {
        if (data.length > n || endStream) connection.close('NoFlush');
        return 'Continue';
      },
    });
  },
});

const peek = defineListenerFilter({
  type: 'peek',
  parseConfig: () => undefined,
  create: () => ({
    async onAccept(callbacks): Promise<ListenerFilterStatus> {
      const head = await callbacks.peek(4);
      if (head.toString() === 'QUIT') {
        callbacks.close();
        return 'Stop';
      }
      return 'Continue';
    },
  }),
});

const plugin: MosnodePlugin = definePlugin({ name: 'types', streamFilters: [tagger], networkFilters: [guard], listenerFilters: [peek] });
void plugin;

// @ts-expect-error a network filter factory is not a stream filter factory
definePlugin({ streamFilters: [guard] });

const headers = new HeaderMap(['a', '1']);
const a: string | undefined = headers.get('a');
void a;
