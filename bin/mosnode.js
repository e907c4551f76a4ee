#!/usr/bin/env node
// The mosnode command: runs the compiled CLI (npm install builds dist/).
import { main } from '../dist/cli/main.js';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`mosnode: warning: Node ${process.version} is not supported; use Node 24 or later (npm scripts and npx use the pinned Node 24)\n`);
}

main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exitCode = code;
});
