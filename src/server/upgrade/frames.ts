/**
 * @module server/upgrade/frames
 * The hot-upgrade control messages on listen.sock: small versioned frames, bounded in
 * size, each `[magic "MOSN" 4][version u8][type u8][length u32 BE][JSON payload]`. A frame
 * from a different protocol version is refused with a clear message instead of being
 * misread, so an old and a new binary never hand over half-understood state.
 */

export const FRAME_MAGIC = Buffer.from('MOSN');

/**
 * What a new process writes first on reconfig.sock: the magic and the protocol version.
 * A connection that does not say it (a port scanner, a stuck client) never starts a
 * hand-over, and an old binary speaking another version is refused before anything moves.
 */
export const RECONFIG_HELLO_BYTES = 5;
export function reconfigHello(): Buffer {
  return Buffer.concat([FRAME_MAGIC, Buffer.from([PROTOCOL_VERSION])]);
}
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 10;
/** No control message is anywhere near this; a larger length means a bad peer. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Linux's SCM_MAX_FD is 253 fds per message; stay under it and send more frames. */
export const MAX_FDS_PER_FRAME = 200;

export const FrameType = {
  /** old -> new: how many listener frames follow, and who sends them. */
  Hello: 1,
  /** old -> new: a batch of listening sockets, fds attached in the order of `listeners`. */
  Listeners: 2,
  /** old -> new: every listener was sent. */
  Done: 3,
  /**
   * old -> new on conn.sock: one live connection `{id, listener, kind}`, its sockets' fds
   * attached. The new process holds them WITHOUT reading and answers MigrationAnswer.
   */
  MigrateConnection: 4,
  /** new -> old: `{id, ok}`: ok = the connection can be adopted (nothing happened yet). */
  MigrationAnswer: 5,
  /** old -> new: `{id}`: the old process has let go; adopt and start reading. */
  MigrationCommit: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export function encodeFrame(type: FrameType, payload: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(payload));
  if (body.length > MAX_PAYLOAD_BYTES) throw new Error(`upgrade frame of ${body.length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  const header = Buffer.alloc(HEADER_BYTES);
  FRAME_MAGIC.copy(header, 0);
  header.writeUInt8(PROTOCOL_VERSION, 4);
  header.writeUInt8(type, 5);
  header.writeUInt32BE(body.length, 6);
  return Buffer.concat([header, body]);
}

export interface FrameHeader {
  type: FrameType;
  length: number;
}

/** Checks a frame header; throws a message an operator can act on. */
export function decodeHeader(header: Buffer): FrameHeader {
  if (header.length !== HEADER_BYTES || !header.subarray(0, 4).equals(FRAME_MAGIC)) {
    throw new Error('upgrade peer sent something that is not a mosnode upgrade frame');
  }
  const version = header.readUInt8(4);
  if (version !== PROTOCOL_VERSION) {
    throw new Error(`upgrade peer speaks protocol version ${version}, this mosnode speaks ${PROTOCOL_VERSION}: upgrade through a version that speaks both`);
  }
  const type = header.readUInt8(5) as FrameType;
  if (!Object.values(FrameType).includes(type)) throw new Error(`unknown upgrade frame type ${type}`);
  const length = header.readUInt32BE(6);
  if (length > MAX_PAYLOAD_BYTES) throw new Error(`upgrade frame of ${length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  return { type, length };
}
