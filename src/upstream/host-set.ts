/**
 * @module upstream/host-set
 * The hosts of one cluster and the subset a load balancer may choose from. Balancers do
 * not get told about changes: they compare `version` with the one they built from on each
 * pick (one integer comparison) and rebuild their tables when it moved. The version moves
 * when the host list is replaced (`setHosts`) or when a host's health flip changes the
 * candidate list. Depends only on ./host.ts.
 */
import { currentHealthEpoch, type Host } from './host.ts';

const NO_HOSTS: readonly Host[] = Object.freeze([]);

export class HostSet {
  #hosts: readonly Host[];
  #healthy: readonly Host[] = NO_HOSTS;
  #seenHealthEpoch = -1;
  #version = 0;

  constructor(hosts: readonly Host[] = NO_HOSTS) {
    this.#hosts = Object.freeze([...hosts]);
  }

  /** Replaces the hosts; balancers rebuild on their next pick. */
  setHosts(hosts: readonly Host[]): void {
    this.#hosts = Object.freeze([...hosts]);
    this.#seenHealthEpoch = -1;
    this.#version++;
  }

  /** Every host, healthy or not, in config order. */
  get hosts(): readonly Host[] {
    return this.#hosts;
  }

  /** The healthy hosts, in config order. */
  get healthyHosts(): readonly Host[] {
    this.#refresh();
    return this.#healthy;
  }

  /**
   * Panic mode (Envoy's name, MOSN does the same): when no host is healthy, balancers
   * choose among all hosts rather than fail every request, because health checks can be
   * wrong (a checker outage marks everything down) and a request that may fail beats one
   * that surely does.
   */
  get panic(): boolean {
    this.#refresh();
    return this.#healthy.length === 0 && this.#hosts.length > 0;
  }

  /** What balancers choose from: the healthy hosts, or all hosts in panic mode. */
  get candidates(): readonly Host[] {
    this.#refresh();
    return this.#healthy.length > 0 ? this.#healthy : this.#hosts;
  }

  /** Changes whenever `candidates` may have changed. Cheap: read it on every pick. */
  get version(): number {
    if (this.#seenHealthEpoch !== currentHealthEpoch()) this.#refresh();
    return this.#version;
  }

  #refresh(): void {
    const epoch = currentHealthEpoch();
    if (epoch === this.#seenHealthEpoch) return;
    this.#seenHealthEpoch = epoch;
    const hosts = this.#hosts;
    let healthyCount = 0;
    for (const host of hosts) if (host.healthy) healthyCount++;
    // The common steady state: everyone healthy, share the frozen list.
    const healthy = healthyCount === hosts.length ? hosts : Object.freeze(hosts.filter((host) => host.healthy));
    if (!sameHosts(healthy, this.#healthy)) {
      this.#healthy = healthy;
      this.#version++;
    }
  }
}

function sameHosts(a: readonly Host[], b: readonly Host[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
