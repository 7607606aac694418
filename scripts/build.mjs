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

// `import { x } from 'node:fs'` in an ES module makes Node build the module's ES facade, which reads every
// export, lazy ones included, and so loads the whole streams stack (measured: a few ms of every start).
// The bundle takes node:fs through require() instead, exporting only its plain values.
const fsThroughRequire = {
  name: 'fs-through-require',
  setup(build) {
    build.onResolve({ filter: /^(node:)?fs$/ }, (args) => {
      // Only ES imports go through the stand-in; require() (graceful-fs patches the real module) and the
      // stand-in's own require() reach node:fs itself.
      if (args.kind !== 'import-statement' || args.namespace === 'fs-through-require') return { path: 'node:fs', external: true };
      return { path: 'node:fs', namespace: 'fs-through-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'fs-through-require' }, () => {
      const fs = require('node:fs');
      const names = Object.keys(fs).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && 'value' in Object.getOwnPropertyDescriptor(fs, name));
      return {
        contents: `const fs = require('node:fs');\n${names.map((name) => `export const ${name} = fs.${name};`).join('\n')}\nexport default fs;`,
        loader: 'js',
      };
    });
  },
};
const cliBuild = {
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
  // CommonJS dependencies need `require`; it is created on first use, as most chunks never call it.
  banner: {
    js: "import { createRequire as __loginkitCreateRequire } from 'node:module'; let __loginkitRequire; const require = (id) => (__loginkitRequire ??= __loginkitCreateRequire(import.meta.url))(id);",
  },
  plugins: [fsThroughRequire],
  logLevel: 'warning',
};
await esbuild.build(cliBuild);

const old = join(root, `.dist-old-${process.pid}`);
try {
  renameSync(join(root, 'dist'), old);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(fresh, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
