/**
 * A graceful stop drains HTTP/2 clients the HTTP/2 way: GOAWAY, then the streams already
 * open finish (an in-flight request still gets its whole answer), no new stream is taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { proxyConfig } from '../helpers/l7.ts';
import { startInProcess } from '../helpers/in-process.ts';
import { startRecordingUpstream } from '../helpers/recording-upstream.ts';

test('graceful stop: GOAWAY to h2c clients, the in-flight stream completes', async () => {
  const upstream = await startRecordingUpstream('u');
  const proxy = await startInProcess(proxyConfig({ downstream: 'Http2', clusters: { backend: [upstream.port] } }));
  const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
  try {
    await once(session, 'connect');
    const goaway = once(session, 'goaway');
    const stream = session.request({ ':path': '/slow/300' });
    const chunks: Buffer[] = [];
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    const ended = once(stream, 'end');
    // The request is at the upstream (answered after 300 ms) when the stop begins.
    await new Promise((r) => setTimeout(r, 100));
    const stopped = proxy.server.gracefulStop();
    await goaway;
    await ended;
    assert.equal(status, 200);
    assert.equal(JSON.parse(Buffer.concat(chunks).toString()).url, '/slow/300');
    await stopped;
  } finally {
    session.destroy();
    await upstream.close();
  }
});
