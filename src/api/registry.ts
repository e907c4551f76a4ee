/**
 * @module api/registry
 * The explicit registry of filter factories, by kind and type name. The built-ins are
 * registered from filters/index.ts (the one visible list); plugins register theirs the
 * same way. Registering a name twice is an error, never a silent override.
 */
import { MosnError } from '../core/errors.ts';
import type { ListenerFilterFactory, NetworkFilterFactory } from './filter-factory.ts';
import type { StreamFilterFactory } from './stream-filter.ts';

export type FilterKind = 'listener' | 'network' | 'stream';

export class FilterRegistry {
  readonly #network = new Map<string, NetworkFilterFactory<any>>();
  readonly #listener = new Map<string, ListenerFilterFactory<any>>();
  readonly #stream = new Map<string, StreamFilterFactory<any>>();

  registerNetworkFilter(factory: NetworkFilterFactory<any>): void {
    this.#add(this.#network, 'network', factory);
  }

  registerListenerFilter(factory: ListenerFilterFactory<any>): void {
    this.#add(this.#listener, 'listener', factory);
  }

  registerStreamFilter(factory: StreamFilterFactory<any>): void {
    this.#add(this.#stream, 'stream', factory);
  }

  getStreamFilter(type: string): StreamFilterFactory<unknown> | undefined {
    return this.#stream.get(type);
  }

  getNetworkFilter(type: string): NetworkFilterFactory<unknown> | undefined {
    return this.#network.get(type);
  }

  getListenerFilter(type: string): ListenerFilterFactory<unknown> | undefined {
    return this.#listener.get(type);
  }

  /** Registered type names of a kind, sorted (for /api/v1/plugin and error messages). */
  names(kind: FilterKind): string[] {
    const map = kind === 'network' ? this.#network : kind === 'listener' ? this.#listener : this.#stream;
    return [...map.keys()].sort();
  }

  #add<F extends { type: string }>(map: Map<string, F>, kind: FilterKind, factory: F): void {
    if (typeof factory?.type !== 'string' || factory.type === '') {
      throw new MosnError('MOSN_ERR_FILTER_CONFIG', `a ${kind} filter factory needs a non-empty "type"`);
    }
    if (map.has(factory.type)) {
      throw new MosnError('MOSN_ERR_FILTER_DUPLICATE', `${kind} filter "${factory.type}" is already registered`);
    }
    map.set(factory.type, factory);
  }
}
