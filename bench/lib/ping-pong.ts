/**
 * TCP ping-pong load: `conns` connections, each sending `request` and waiting for
 * `answerBytes` before sending again, for `seconds`. Returns round trips and each trip's
 * latency in ms. Used by bench/tcp-proxy.ts and bench/buffer-pool.ts.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export async function pingPong(
  port: number,
  seconds: number,
  conns: number,
  request: Buffer,
  answerBytes: number,
): Promise<{ trips: number; lat: number[] }> {
  const lat: number[] = [];
  let trips = 0;
  let running = true;
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      sockets.push(s);
      await once(s, 'connect');
      let got = 0;
      let sent = process.hrtime.bigint();
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got < answerBytes) return;
        got -= answerBytes;
        trips++;
        lat.push(Number(process.hrtime.bigint() - sent) / 1e6);
        if (running) {
          sent = process.hrtime.bigint();
          s.write(request);
        }
      });
      s.write(request);
    }),
  );
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  for (const s of sockets) s.destroy();
  return { trips, lat };
}
