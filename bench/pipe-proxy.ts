/**
 * The baseline for bench/tcp-proxy.ts: the plainest Node TCP proxy, net + socket.pipe()
 * both ways (the same as ../shared/bench/servers/tcp-pipe.js). Usage: node pipe-proxy.ts LISTEN_PORT UP_PORT
 */
import { createServer, connect } from 'node:net';

const [listenPort, upPort] = process.argv.slice(2).map(Number);
const server = createServer({ allowHalfOpen: true, noDelay: true }, (down) => {
  const up = connect({ host: '127.0.0.1', port: upPort!, allowHalfOpen: true, noDelay: true });
  down.pipe(up);
  up.pipe(down);
  const close = (): void => { down.destroy(); up.destroy(); };
  down.on('error', close);
  up.on('error', close);
  down.on('close', close);
  up.on('close', close);
});
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
