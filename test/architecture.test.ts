/**
 * Keeps the layers of docs/architecture.md pointing one way: a module may import its own
 * layer or a layer below it, never one above. `api/` (the public plugin surface) may
 * import only `core/`. This reads every import in src/ as text, so it needs no linter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Top to bottom: an import must point to the same index or a higher one. */
export const LAYERS = ['cli', 'server', 'admin', 'filters', 'proxy', 'router', 'upstream', 'protocol', 'network', 'metrics', 'shm', 'buffer', 'config', 'api', 'core'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

function layerOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

test('every top-level folder of src/ is a known layer', () => {
  for (const name of readdirSync(SRC)) {
    if (statSync(join(SRC, name)).isDirectory()) assert.ok((LAYERS as readonly string[]).includes(name), `src/${name} is not in LAYERS`);
  }
});

test('imports point down the layers, and api/ imports only core/', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
      checked++;
      const target = layerOf(resolve(dirname(file), m[1]!));
      const ok = from === 'api'
        ? target === 'api' || target === 'core'
        : LAYERS.indexOf(target as (typeof LAYERS)[number]) >= LAYERS.indexOf(from as (typeof LAYERS)[number]);
      if (!ok) violations.push(`${relative(SRC, file)} imports ${m[1]} (${from} -> ${target})`);
    }
  }
  assert.ok(checked > 50, `only ${checked} imports were read: the pattern no longer matches`);
  assert.deepEqual(violations, []);
});
