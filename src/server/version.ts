/**
 * @module server/version
 * mosnode's version, read once from package.json so there is one source of truth.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  // src/server/ and dist/server/ are both two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export const VERSION = readVersion();
