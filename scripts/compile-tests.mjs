// Compiles src/ and test/ once, for `npm test`, into a mirror of the repository that plain `node --test` runs:
// tsx would cost every test process ~0.4 s of CPU. Each .ts file becomes a .js file at the same relative path
// (the sources already import siblings as ./x.js), with an inline source map to the .ts file so that stack
// traces name it. Everything else is a symlink: the .ts files themselves and the other files of src/ and
// test/ beside their outputs (tests read and spawn files relative to import.meta.url), and every other
// top-level entry of the repository (package.json for "type": "module" and the `loginkit` self-reference,
// node_modules, dist, bin, README.md, …). Node.js loads a symlinked file under its real path.
import { mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The mirror's root. */
export const COMPILED = join(root, 'node_modules/.cache/loginkit/compiled');
const COMPILED_TREES = ['src', 'test'];

/** The compiled file in the mirror for `file`, a .ts file relative to the repository (test/x.test.ts). */
export function compiledFile(file) {
  return join(COMPILED, file.replace(/\.ts$/, '.js'));
}

/** The .ts file relative to the repository that the mirror's `file` (absolute) was compiled from; other paths relative to the repository. */
export function sourceFile(file) {
  const inMirror = relative(COMPILED, file);
  if (inMirror.startsWith('..')) return relative(root, file);
  return COMPILED_TREES.some((tree) => inMirror.startsWith(`${tree}/`)) ? inMirror.replace(/\.js$/, '.ts') : inMirror;
}

/** Every file under `dir` (absolute paths). */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Rebuilds the mirror from scratch (nothing deleted lingers); returns its root. */
export async function compileTests() {
  const { build } = await import('esbuild');
  rmSync(COMPILED, { recursive: true, force: true });
  mkdirSync(COMPILED, { recursive: true });
  for (const entry of readdirSync(root)) {
    if (![...COMPILED_TREES, '.git'].includes(entry)) symlinkSync(join(root, entry), join(COMPILED, entry));
  }
  const files = COMPILED_TREES.flatMap((tree) => filesUnder(join(root, tree)));
  for (const file of files) {
    const link = join(COMPILED, relative(root, file));
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(file, link);
  }
  await build({
    entryPoints: files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')),
    outbase: root,
    outdir: COMPILED,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'warning',
  });
  return COMPILED;
}
