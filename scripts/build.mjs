// Builds the library (tsc: dist/*.js + .d.ts) and the CLI (esbuild: one entry plus lazily loaded chunks, so
// that `loginkit token` loads only what it needs and starts fast).
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Build beside dist/ and swap it in, so that a CLI started during a rebuild never finds dist/ missing.
const fresh = join(root, `.dist-build-${process.pid}`);
rmSync(fresh, { recursive: true, force: true });
execFileSync(process.execPath, [join(dirname(require.resolve('typescript/package.json')), 'bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', fresh], {
  stdio: 'inherit',
  cwd: root,
});

const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: { loginkit: join(root, 'src/cli/loginkit.ts') },
  outdir: join(fresh, 'cli'),
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  // `open` ships helper scripts next to its own files; native keychain bindings cannot be bundled.
  external: ['open', '@napi-rs/keyring'],
  define: { LOGINKIT_VERSION: JSON.stringify(version) },
  banner: { js: "import { createRequire as __loginkitRequire } from 'node:module'; const require = __loginkitRequire(import.meta.url);" },
  logLevel: 'warning',
});

const old = join(root, `.dist-old-${process.pid}`);
try {
  renameSync(join(root, 'dist'), old);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(fresh, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
