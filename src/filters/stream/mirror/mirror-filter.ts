/**
 * @module filters/stream/mirror/mirror-filter
 * The `mirror` receive filter. In MOSN this filter is what makes a route's
 * `request_mirror_policies` ({cluster, percent}) act: at AfterRoute it copies the request
 * to the policy's cluster `amplification` times, or once to every healthy host with
 * `broadcast`. mosnode's proxy already sends a route's mirror copy by itself (after routing
 * and host choice, with the body when its length is known and within the listener's buffer
 * limit), so this filter does not send a second one: it takes over that copy
 * (proxy/mirror.ts `takeOverMirrors`) and multiplies it. The proxy's sampling (`percent`)
 * stays the one decision, and a request whose route has no mirror policy is untouched.
 *
 * Fire and forget: copies never delay or fail the request; their answers are read and
 * dropped. Bounded: at most `max_inflight` copies of a filter entry are unanswered at once
 * (each one also ends at the proxy's 60 s request timeout); one more is dropped and counted.
 *
 * Where this differs from MOSN: with `broadcast`, MOSN answers the client 200 itself (the
 * request headers echoed as response headers) and never calls the route's cluster; here the
 * request goes on to its cluster as usual and the client gets that answer, because the
 * filter learns of the mirror policy only when the proxy is about to send upstream. Each
 * healthy host gets exactly one copy (MOSN asks the load balancer once per healthy host,
 * so a random balancer may pick a host twice).
 * Depends on api/ and proxy/mirror.
 */
import type { StatsCounter, StatsGauge } from '../../../api/filter-factory.ts';
import type { StreamFilterStatus, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import type { UpstreamClusters, UpstreamHost } from '../../../api/upstream.ts';
import { takeOverMirrors, type MirrorCopies } from '../../../proxy/mirror.ts';
import type { MirrorConfig } from './mirror-config.ts';

/**
 * The filter's metrics (metric group `mirror`, label `listener`):
 * - `mirrored`: copies sent (each amplified or broadcast copy counts);
 * - `failed`: sent copies that ended in an error (connect failure, reset, timeout);
 * - `dropped`: copies not sent: `max_inflight` reached, or no host to send to;
 * - `inflight` (gauge): copies sent and not yet answered.
 */
export interface MirrorStats {
  readonly mirrored: StatsCounter;
  readonly failed: StatsCounter;
  readonly dropped: StatsCounter;
  readonly inflight: StatsGauge;
}

/** One filter entry's fan-out; one object serves every request (no allocation per request). */
export class MirrorFilter implements StreamReceiverFilter {
  readonly #config: MirrorConfig;
  readonly #clusters: UpstreamClusters;
  readonly #stats: MirrorStats;
  #inflight = 0;
  readonly #fanOut = (copies: MirrorCopies): void => this.#send(copies);
  readonly #onCopyDone = (err: Error | undefined): void => {
    this.#inflight--;
    this.#stats.inflight.dec();
    if (err !== undefined) this.#stats.failed.inc();
  };

  constructor(config: MirrorConfig, clusters: UpstreamClusters, stats: MirrorStats) {
    this.#config = config;
    this.#clusters = clusters;
    this.#stats = stats;
  }

  /** Copies of this entry not answered yet. */
  get inflight(): number {
    return this.#inflight;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterStatus {
    takeOverMirrors(handler.request, this.#fanOut);
    return 'Continue';
  }

  #send(copies: MirrorCopies): void {
    if (!this.#config.broadcast) {
      for (let i = 0; i < this.#config.amplification; i++) this.#sendOne(copies, undefined);
      return;
    }
    let sent = 0;
    for (const host of this.#clusters.getCluster(copies.clusterName)?.hosts ?? []) {
      if (!host.healthy) continue;
      this.#sendOne(copies, host);
      sent++;
    }
    if (sent === 0) this.#stats.dropped.inc();
  }

  #sendOne(copies: MirrorCopies, host: UpstreamHost | undefined): void {
    if (this.#inflight >= this.#config.maxInflight) {
      this.#stats.dropped.inc();
      return;
    }
    this.#inflight++;
    this.#stats.inflight.inc();
    if (!copies.send(host, this.#onCopyDone)) {
      this.#inflight--;
      this.#stats.inflight.dec();
      this.#stats.dropped.inc();
      return;
    }
    this.#stats.mirrored.inc();
  }
}
