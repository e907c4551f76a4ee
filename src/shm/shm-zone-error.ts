/**
 * @module shm/shm-zone-error
 * The error a shared-memory zone throws: a MosnError with one of the MOSN_ERR_SHM_* codes
 * of core/errors.ts, and the other processes involved, when any.
 * Depends on core/ only.
 */
import { MosnError, type ErrorCode } from '../core/errors.ts';

export type ShmErrorCode = Extract<ErrorCode, `MOSN_ERR_SHM_${string}`>;

export class ShmZoneError extends MosnError {
  declare readonly code: ShmErrorCode;
  readonly pids: readonly number[];

  constructor(code: ShmErrorCode, message: string, options: { pids?: readonly number[]; cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShmZoneError';
    this.pids = options.pids ?? [];
  }
}
