/**
 * Small helpers for the server codec tests (HTTP/1.1 and HTTP/2 alike): answering a
 * ServerStream, and reading what a request body or a stream's close reports.
 */
import type { Readable } from 'node:stream';
import { HeaderMap } from '../../src/api/headers.ts';
import type { ServerStream } from '../../src/protocol/server-stream.ts';

/** Answers with a content-length body (or none: the response ends with its headers). */
export function reply(stream: ServerStream, status: number, body: string | Buffer = '', headers: string[] = []): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  if (buf.length === 0) {
    stream.sendHeaders(status, new HeaderMap([...headers]), true, false);
    return;
  }
  stream.sendHeaders(status, new HeaderMap([...headers, 'content-length', String(buf.length)]), false, false);
  stream.write(buf);
  stream.end();
}

export function readAll(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.on('end', () => resolve(Buffer.concat(chunks)));
    body.on('error', reject);
  });
}

/** Settles with the error a body stream emits (or undefined if it ends normally). */
export function bodyOutcome(body: Readable): Promise<Error | undefined> {
  return new Promise((resolve) => {
    body.on('error', (err) => resolve(err));
    body.on('end', () => resolve(undefined));
    body.resume();
  });
}

/** Settles with the `completed` flag the stream's onClose reports. */
export function closeOf(stream: ServerStream): Promise<boolean> {
  return new Promise((resolve) => stream.onClose(resolve));
}
