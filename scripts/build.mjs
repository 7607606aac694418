// Builds the library (tsc: dist/*.js + .d.ts, ES modules) and the CLI (esbuild: one CommonJS file, plus
// leaf dependencies in their own files that load only when a command uses them). CommonJS because
// `loginkit token` runs in scripts' loops: Node loads one CommonJS file with far less work than a graph of
// ES modules (measured in `npm run bench`).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Build beside dist/ and swap it in, so that a CLI started during a rebuild never finds dist/ missing.
const fresh = join(root, `.dist-build-${process.pid}`);
rmSync(fresh, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(dirname(require.resolve('typescript/package.json')), 'bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', fresh],
  {
    stdio: 'inherit',
    cwd: root,
  },
);

const esbuild = await import('esbuild');

// Bundled into the CLI file: what `loginkit token` itself runs (zod), or a few functions of a package (jose).
const BUNDLED = new Set(['zod', 'jose']);
// Used only by some commands, and many files each (or ES modules, which CommonJS cannot require): each is
// bundled into its own CommonJS file under vendor/, required when the first module that imports it runs.
const VENDORED = ['openid-client', 'undici', 'proper-lockfile', 'pg', 'ioredis'];
// Optional modules a vendored package requires only when present (pg's native binding, its Cloudflare socket).
const OPTIONAL = ['pg-native', 'pg-cloudflare', 'cloudflare:sockets'];
// Optional peer dependencies left to the application's node_modules, imported at run time: bundled, they
// would make the CLI file (and so every `loginkit token`) larger for everyone (@azure/identity: +430 KB).
const EXTERNAL_PEERS = ['@azure/identity'];

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};
const packageName = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

// The other dependencies stay in node_modules. A dependency that require() can load, and every vendored one,
// becomes a module of the bundle that requires it, so that import() of it loads it without Node's ES module
// loader. ES-module-only ones may only be import()ed. Native or script-carrying ones (the keychain's binding,
// `open`) could not be bundled anyway.
const dependencies = {
  name: 'dependencies',
  setup(build) {
    build.onResolve({ filter: /.*/, namespace: 'required' }, (args) => ({ path: args.path, external: true }));
    build.onLoad({ filter: /.*/, namespace: 'required' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
    build.onResolve({ filter: /^[@a-z]/ }, (args) => {
      const name = packageName(args.path);
      if (EXTERNAL_PEERS.includes(name) && args.kind === 'dynamic-import') return { path: args.path, external: true };
      if (!(name in pkg.dependencies) || BUNDLED.has(name)) return undefined;
      if (VENDORED.includes(name)) {
        if (args.path !== name)
          throw new Error(`${args.importer} imports ${args.path}: only the main entry of a vendored package is bundled`);
        return { path: `./vendor/${name}.cjs`, namespace: 'required' };
      }
      if (isCommonJs(name)) return { path: args.path, namespace: 'required' };
      if (args.kind === 'dynamic-import') return { path: args.path, external: true };
      throw new Error(`${args.importer} imports the ES module ${name} statically: import() it, or add it to VENDORED in scripts/build.mjs`);
    });
  },
};

/** Whether require(name) loads CommonJS (not require(esm), which Node 20 announces with a warning). */
function isCommonJs(name) {
  let file;
  try {
    file = require.resolve(name);
  } catch {
    return false;
  }
  if (file.endsWith('.cjs') || file.endsWith('.mjs')) return file.endsWith('.cjs');
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).type !== 'module';
}

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: { loginkit: join(root, 'src/cli/loginkit.ts') },
    outdir: join(fresh, 'cli'),
    outExtension: { '.js': '.cjs' },
    // The keychain module finds its native package with createRequire(import.meta.url).
    define: { LOGINKIT_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__loginkitModuleUrl' },
    banner: {
      js: 'const __loginkitModuleUrl = require("node:url").pathToFileURL(__filename).href; const __esmI = (s) => require("./esm-import.cjs")(s);',
    },
    plugins: [dependencies],
    // Read only with LOGINKIT_DEBUG=1 (bin/loginkit.cjs): readable stack traces, nothing at normal start-up.
    sourcemap: 'linked',
    sourcesContent: false,
  }),
  ...VENDORED.map((name) =>
    esbuild.build({
      ...common,
      entryPoints: [require.resolve(name)],
      outfile: join(fresh, 'cli/vendor', `${name}.cjs`),
      external: OPTIONAL,
    }),
  ),
]);

// Code compiled by node:vm (bin/bundle-loader.cjs, for the code cache) cannot run import() without an
// experimental flag: the bundle's import() of ES-module-only packages goes through cli/esm-import.cjs, which
// Node loads itself. Same length as \`import\`, so that the source map's columns still hold.
const cliBundle = join(fresh, 'cli/loginkit.cjs');
const bundled = readFileSync(cliBundle, 'utf8').replace(/\bimport\(("[^"]+")\)/g, '__esmI($1)');
if (/\bimport\(/.test(bundled)) throw new Error('The CLI bundle has an import() with a computed specifier: import a string literal');
writeFileSync(cliBundle, bundled);
writeFileSync(join(fresh, 'cli/esm-import.cjs'), '"use strict";\nmodule.exports = (specifier) => import(specifier);\n');

// The CLI's V8 code cache, made from the bundle just built by a run of `loginkit status` in an empty home
// (see bin/bundle-loader.cjs).
const trainingHome = mkdtempSync(join(tmpdir(), 'loginkit-build-'));
try {
  // Without a cache the CLI only starts slower (test/cli/start-up.test.ts checks that there is one).
  execFileSync(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(join(root, 'bin/bundle-loader.cjs'))}).runAndWriteCache(process.argv[1], process.argv[2], ['status'])`,
      join(fresh, 'cli/loginkit.cjs'),
      join(root, 'dist/cli/loginkit.cjs'),
    ],
    { env: { PATH: process.env.PATH, HOME: trainingHome, LOGINKIT_HOME: trainingHome, LOGINKIT_STORE: 'file' }, stdio: 'ignore' },
  );
} catch (error) {
  console.warn(`warning: no code cache for the CLI (${error.message.split('\n')[0]}); it starts slower`);
} finally {
  rmSync(trainingHome, { recursive: true, force: true });
}

const old = join(root, `.dist-old-${process.pid}`);
try {
  renameSync(join(root, 'dist'), old);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(fresh, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
