/**
 * @module filters/stream/ip_access/ip-access-filter
 * The `ip_access` filter: runs BeforeRoute (as MOSN), takes the client address from the
 * configured header when the request has it (else the connection's peer address), and
 * either lets the request through or answers 403 (MOSN's status) without routing it.
 * Stateless, so one instance serves every request of a listener.
 *
 * Stats (metric group `ip_access`, label `listener`): `allowed`, `denied` (counters).
 * Depends on api/ only.
 */
import type { StatsCounter } from '../../../api/filter-factory.ts';
import type { StreamFilterStatus, StreamReceiverFilter, StreamReceiverFilterHandler } from '../../../api/stream-filter.ts';
import { clientIp, decide, type IpAccessConfig } from './ip-access-config.ts';

export interface IpAccessStats {
  readonly allowed: StatsCounter;
  readonly denied: StatsCounter;
}

/** The status a refused request gets (MOSN's SendHijackReply(403)). */
export const IP_ACCESS_DENIED_STATUS = 403;

export class IpAccessFilter implements StreamReceiverFilter {
  readonly #config: IpAccessConfig;
  readonly #stats: IpAccessStats;

  constructor(config: IpAccessConfig, stats: IpAccessStats) {
    this.#config = config;
    this.#stats = stats;
  }

  onReceive(handler: StreamReceiverFilterHandler): StreamFilterStatus {
    const header = this.#config.header;
    const fromHeader = header === undefined ? undefined : handler.request.headers.get(header);
    const address = fromHeader !== undefined && fromHeader.trim() !== '' ? fromHeader : handler.info.downstreamRemoteAddress;
    const ip = clientIp(address);
    if (decide(this.#config, ip) === 'allow') {
      this.#stats.allowed.inc();
      return 'Continue';
    }
    this.#stats.denied.inc();
    // debug, not info as MOSN: a scan from a denied range must not flood the log.
    handler.logger.debug({ ip, header: fromHeader === undefined ? undefined : header }, 'ip_access: request denied');
    handler.sendDirectResponse(IP_ACCESS_DENIED_STATUS);
    return 'Stop';
  }
}
