/**
 * @module server/upgrade/migration-wire
 * Reading one frame (header, then body, with the fds that came along) from conn.sock,
 * shared by both sides of connection migration. Any fd received with a frame that cannot
 * be read whole is closed here, never leaked.
 */
import { closeFdsQuietly, type UnixMessageSocket } from '../../core/native.ts';
import { decodeHeader, HEADER_BYTES, type FrameType } from './frames.ts';

export interface MigrationFrame {
  type: FrameType;
  payload: Record<string, unknown>;
  fds: number[];
}

/** One frame, or undefined at EOF. */
export async function readMigrationFrame(peer: UnixMessageSocket, timeoutMs: number, maxFds: number): Promise<MigrationFrame | undefined> {
  const head = await peer.receiveExactly(HEADER_BYTES, timeoutMs, maxFds);
  if (head.bytes.length === 0) return undefined;
  let fds = head.fds;
  try {
    const header = decodeHeader(head.bytes);
    const body = header.length === 0 ? { bytes: Buffer.alloc(0), fds: [] } : await peer.receiveExactly(header.length, timeoutMs, maxFds - fds.length);
    fds = [...fds, ...body.fds];
    const payload = JSON.parse(body.bytes.toString('utf8')) as unknown;
    if (typeof payload !== 'object' || payload === null) throw new Error('a migration frame without an object payload');
    return { type: header.type, payload: payload as Record<string, unknown>, fds };
  } catch (err) {
    closeFdsQuietly(fds);
    throw err;
  }
}
