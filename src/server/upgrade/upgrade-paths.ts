/**
 * @module server/upgrade/upgrade-paths
 * The unix sockets of the hot-upgrade protocol, with MOSN's names, in `uds_dir`.
 */
import { join } from 'node:path';

export interface UpgradePaths {
  /** The running process listens here; a new one dials it to ask for a hand-over. */
  reconfig: string;
  /** The new process listens here; the old one sends its listening sockets over it. */
  listen: string;
  /** The new process listens here; the old one migrates live connections over it. */
  conn: string;
  /** The running process serves its config here (inherit_old_mosnconfig). */
  mosnconfig: string;
}

export function upgradePaths(udsDir: string): UpgradePaths {
  return {
    reconfig: join(udsDir, 'reconfig.sock'),
    listen: join(udsDir, 'listen.sock'),
    conn: join(udsDir, 'conn.sock'),
    mosnconfig: join(udsDir, 'mosnconfig.sock'),
  };
}

/** How long each step may take, ms. Tests shorten them. */
export interface UpgradeTimeouts {
  /** New process: dialing reconfig.sock and reading the old one's first byte (MOSN: 1 s). */
  reconfigMs: number;
  /** New process: waiting for the old one to dial listen.sock (MOSN: 10 s). */
  acceptMs: number;
  /** Either side: one control frame. */
  frameMs: number;
  /** Old process: waiting for the new one to say it serves. */
  servingMs: number;
  /** New process: waiting for the old one's acknowledgement. */
  ackMs: number;
  /** Old process: dialing listen.sock, retried until then (MOSN: 10 tries, 1 s apart). */
  dialMs: number;
}

export const DEFAULT_UPGRADE_TIMEOUTS: UpgradeTimeouts = {
  reconfigMs: 2_000,
  acceptMs: 10_000,
  frameMs: 10_000,
  servingMs: 30_000,
  ackMs: 5_000,
  dialMs: 10_000,
};
