#!/usr/bin/env node
// The mosnode command: runs the compiled CLI (npm install builds dist/).
// A proxy's young generation: V8 lets it grow to 64 MB under load and keeps it, which an
// idle proxy then holds as RSS. Capped at 8 MB semi-spaces for `start` (measured with
// bench/idle-connections.ts: 10k idle HTTP/1.1 connections 59 -> 37 MB over baseline;
// CPU per request and p99 unchanged in bench/l7-proxy.sh). Re-exec in place (same pid,
// same fds) unless the user chose a size, or MOSNODE_NODE_DEFAULTS=0.
if (
  process.argv[2] === 'start' &&
  typeof process.execve === 'function' &&
  process.env.MOSNODE_NODE_DEFAULTS !== '0' &&
  !process.execArgv.some((flag) => flag.startsWith('--max-semi-space-size'))
) {
  process.execve(process.execPath, [process.execPath, '--max-semi-space-size=8', ...process.execArgv, ...process.argv.slice(1)], process.env);
}
// Imported after the re-exec decision, so the first image loads nothing it would throw away.
const { main } = await import('../dist/cli/main.js');

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`mosnode: warning: Node ${process.version} is not supported; use Node 24 or later (npm scripts and npx use the pinned Node 24)\n`);
}

main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});
