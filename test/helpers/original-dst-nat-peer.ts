/**
 * The client side of test/integration/original-dst-nat.test.ts, run inside the test's
 * network namespace (nsenter), where nftables rules REDIRECT connections for 10.0.0.0/24
 * and 2001:db8::/64 to mosnode's listener. It starts the named echo upstreams (argv[2]:
 * JSON {name: port}), prints "ready", waits for mosnode's listener (argv[3]: port) and
 * admin API (argv[4]: port), connects to each destination of argv[5] (JSON
 * [[host, port, text]]), and prints one JSON line: what each connection got back, and
 * /api/v1/stats. A program, not a test: the test asserts on its output.
 */
import { createServer, connect, type Server } from 'node:net';
import { once } from 'node:events';

const upstreams = JSON.parse(process.argv[2]!) as Record<string, number>;
const listenerPort = Number(process.argv[3]);
const adminPort = Number(process.argv[4]);
const destinations = JSON.parse(process.argv[5]!) as Array<[string, number, string]>;

const servers: Server[] = [];
for (const [name, port] of Object.entries(upstreams)) {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.write(`${name}|`);
    socket.pipe(socket);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
}
console.log('ready');

async function reachable(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** Sends `text`; resolves with what comes back until the upstream's echo of it is complete. */
function exchange(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = connect(port, host);
    const timer = setTimeout(() => { socket.destroy(); resolve(`timeout after ${JSON.stringify(got)}`); }, 5000);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.endsWith(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); resolve(`error ${(err as NodeJS.ErrnoException).code}`); });
  });
}

const deadline = Date.now() + 15_000;
await reachable(listenerPort, deadline);
await reachable(adminPort, deadline);
const replies: string[] = [];
for (const [host, port, text] of destinations) replies.push(await exchange(host, port, text));
const stats = await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/stats`)).json();
console.log(JSON.stringify({ replies, stats }));
for (const server of servers) server.close();
