// Data flows one way: cli → index → client → features → context → {session, sign-in} → {oauth, store} → net →
// providers → shared → errors. A module may import its own folder's modules and any lower layer's, never a
// higher one's; the CLI goes through the public API alone. Each offending import is named.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Layer of each top-level folder or file of src/, highest first. */
const LAYERS: Record<string, number> = {
  cli: 12,
  ink: 12,
  'index.ts': 11,
  'client.ts': 10,
  features: 9,
  importers: 8,
  'context.ts': 7,
  openai: 6,
  'sign-in': 5,
  session: 5,
  oauth: 4,
  store: 4,
  net: 3,
  providers: 2,
  shared: 1,
  'errors.ts': 0,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split('\\').join('/')] : [];
  });
}

/** Every relative module a file imports: static, type-only, re-exported or import()ed. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map(
    (m) => m[1] as string,
  );
  return specifiers.map((specifier) => posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

const unitOf = (file: string): string => file.split('/')[0] as string;

function layerOf(file: string): number {
  const layer = LAYERS[unitOf(file)];
  if (layer === undefined)
    throw new Error(`src/${file} is in no layer: add its folder to LAYERS in ${relative(process.cwd(), fileURLToPath(import.meta.url))}`);
  return layer;
}

/** Why `from` may not import `to`, or undefined when it may. */
function violation(from: string, to: string): string | undefined {
  const source = unitOf(from);
  const target = unitOf(to);
  if (source === target) return undefined;
  if (source === 'cli' || source === 'ink')
    return target === 'index.ts' ? undefined : `the ${source === 'cli' ? 'CLI' : 'Ink component'} uses only the public API (src/index.ts)`;
  if (layerOf(to) >= layerOf(from)) return `${target} is not below ${source}`;
  return undefined;
}

test('imports point only downwards, and the CLI uses only the public API', () => {
  const offences = sourceFiles(SRC).flatMap((file) =>
    importsOf(file).flatMap((target) => {
      const why = violation(file, target);
      return why ? [`src/${file} imports src/${target}: ${why}`] : [];
    }),
  );
  assert.deepEqual(offences, []);
});

test('the layer rule names the offending import', () => {
  assert.equal(violation('store/file-store.ts', 'session/credential.ts'), 'session is not below store');
  assert.equal(violation('cli/main.ts', 'client.ts'), 'the CLI uses only the public API (src/index.ts)');
  assert.equal(violation('session/token-session.ts', 'oauth/grants.ts'), undefined);
});
