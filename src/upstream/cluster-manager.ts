/**
 * @module upstream/cluster-manager
 * All clusters by name, built from `cluster_manager.clusters`, with MOSN's dynamic
 * updates: add or replace one cluster, remove one. An update builds a new Cluster object
 * (keeping unchanged Host objects, so in-flight counts and health survive) and swaps it
 * in; callers should look a cluster up by name per connection or request rather than
 * hold on to it, as MOSN's proxies take a fresh cluster snapshot per request.
 * Depends only on core/, config types, api/ and ./cluster.ts.
 */
import { MosnError } from '../core/errors.ts';
import type { ClusterConfig } from '../config/types.ts';
import type { UpstreamClusters } from '../api/upstream.ts';
import { Cluster } from './cluster.ts';
import type { MetricsRegistry } from '../metrics/metrics-registry.ts';

export interface ClusterManagerOptions {
  /** Random source handed to every balancer; default Math.random. Tests inject a seeded one. */
  random?: () => number;
  /** Where clusters count MOSN's upstream metrics; none when absent. */
  metrics?: MetricsRegistry;
}

export class ClusterManager implements UpstreamClusters {
  readonly #clusters = new Map<string, Cluster>();
  readonly #random: (() => number) | undefined;
  readonly #metrics: MetricsRegistry | undefined;

  /**
   * Builds every cluster. Throws the first rejected config as a MosnError whose message
   * starts with its JSON path (`cluster_manager.clusters[2].lb_type: ...`): code
   * MOSN_ERR_CONFIG_UNSUPPORTED for a feature not built yet, MOSN_ERR_CONFIG_INVALID
   * otherwise (bad host, empty or duplicate name).
   */
  constructor(configs: readonly ClusterConfig[] = [], options: ClusterManagerOptions = {}) {
    this.#random = options.random;
    this.#metrics = options.metrics;
    const firstIndexByName = new Map<string, number>();
    configs.forEach((config, index) => {
      const path = `cluster_manager.clusters[${index}]`;
      checkName(config, path);
      const earlier = firstIndexByName.get(config.name);
      if (earlier !== undefined) {
        throw new MosnError(
          'MOSN_ERR_CONFIG_INVALID',
          `${path}.name: duplicate cluster name "${config.name}" (also cluster_manager.clusters[${earlier}])`,
        );
      }
      firstIndexByName.set(config.name, index);
      this.#clusters.set(config.name, this.#build(config, path, undefined));
    });
  }

  /** The cluster named `name`, or undefined. Called per request: a Map lookup. */
  getCluster(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** Every cluster, in the order added. */
  clusters(): Cluster[] {
    return [...this.#clusters.values()];
  }

  /**
   * Adds a cluster, or replaces the one with the same name (its hosts become the config's;
   * unchanged hosts keep their counters and health). Returns the new cluster. Throws like
   * the constructor, with the path `cluster "<name>"`; on a throw nothing changes.
   */
  addOrUpdateCluster(config: ClusterConfig): Cluster {
    const path = `cluster "${config.name}"`;
    checkName(config, path);
    const cluster = this.#build(config, path, this.#clusters.get(config.name));
    this.#clusters.set(config.name, cluster);
    return cluster;
  }

  /** Removes a cluster; returns false when there was none by that name. */
  removeCluster(name: string): boolean {
    return this.#clusters.delete(name);
  }

  #build(config: ClusterConfig, path: string, previous: Cluster | undefined): Cluster {
    return new Cluster(config, {
      path,
      ...(previous !== undefined && { previousHosts: previous.hosts }),
      ...(this.#random !== undefined && { random: this.#random }),
      ...(this.#metrics !== undefined && { metrics: this.#metrics }),
    });
  }
}

function checkName(config: ClusterConfig, path: string): void {
  if (typeof config.name !== 'string' || config.name === '') {
    throw new MosnError('MOSN_ERR_CONFIG_INVALID', `${path}.name: a cluster needs a non-empty name`);
  }
}
