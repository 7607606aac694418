// Builds the library (tsc: dist/*.d.ts; esbuild: dist/index.js and the chunks it imports, ES modules) and
// the CLI (esbuild: one CommonJS file, plus leaf dependencies in their own files that load only when a
// command uses them). The library is bundled so that zod comes without what loginkit never uses (its
// locales, fifty modules that `zod/mini` loads otherwise) and so that `import('loginkit')` reads a few files
// rather than a graph of fifty. CommonJS for the CLI because `loginkit token` runs in scripts' loops: Node
// loads one CommonJS file with far less work than a graph of ES modules (measured in `npm run bench`).
// Neither is minified beyond whitespace: stack traces (LOGINKIT_DEBUG=1, an embedder's) keep the names of
// the source, and no source map is shipped that would point at sources the package does not hold (the
// clone's CLI map, for LOGINKIT_DEBUG=1 there, stays out of the package).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  [
    join(dirname(require.resolve('typescript/package.json')), 'bin/tsc'),
    '-p',
    join(root, 'tsconfig.build.json'),
    '--outDir',
    fresh,
    '--emitDeclarationOnly',
  ],
  {
    stdio: 'inherit',
    cwd: root,
  },
);

const esbuild = await import('esbuild');

// Bundled into the CLI file: what `loginkit token` itself runs (zod), or a few functions of a package (jose).
const BUNDLED = new Set(['zod', 'jose', 'commander']);
// What the package needs from node_modules: its dependencies, and the optional peers that only some
// features load (the shared stores' drivers, the MCP client), which the library asks its user to install.
const INSTALLED = { ...pkg.dependencies, ...pkg.peerDependencies };
// Used only by some commands, and many files each (or ES modules, which CommonJS cannot require): each is
// bundled into its own CommonJS file under vendor/, required when the first module that imports it runs.
// The CLI carries the shared stores' drivers (optional peers of the library) so that `npx loginkit token`
// works on a fleet machine that has nothing but config.json; not the MCP client (1 MB bundled, for
// `mcp check` alone), which the CLI loads from node_modules like the library.
const VENDORED = ['openid-client', 'undici', 'proper-lockfile', 'pg', 'ioredis'];
// Optional modules a vendored package requires only when present (pg's native binding, its Cloudflare socket).
const OPTIONAL = ['pg-native', 'pg-cloudflare', 'cloudflare:sockets'];

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
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
      if (!(name in INSTALLED) || BUNDLED.has(name)) return undefined;
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

const built = await Promise.all([
  esbuild.build({
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    entryPoints: { index: join(root, 'src/index.ts'), 'ink/index': join(root, 'src/ink/index.ts') },
    outdir: fresh,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    // zod alone is bundled (see above); the rest load from node_modules, where an application shares them.
    external: Object.keys(INSTALLED).filter((name) => name !== 'zod'),
  }),
  esbuild.build({
    ...common,
    entryPoints: { loginkit: join(root, 'src/cli/loginkit.ts') },
    outdir: join(fresh, 'cli'),
    outExtension: { '.js': '.cjs' },
    // The keychain module finds its native package with createRequire(import.meta.url).
    define: { LOGINKIT_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__loginkitModuleUrl' },
    banner: {
      js: [
        'const __loginkitModuleUrl = require("node:url").pathToFileURL(__filename).href;',
        'const __esmI = (s) => require("./esm-import.cjs")(s);',
        'const __lazyChildProcess = () => { let loaded; return new Proxy({}, { get: (_, name) => (loaded ??= require("node:child_process"))[name] }); };',
      ].join(' '),
    },
    plugins: [dependencies],
    metafile: true,
    // For the clone only: with LOGINKIT_DEBUG=1, stack traces point into src/ (bin/bundle-loader.cjs).
    // The bundle names no map, and the package leaves the map out (`files` in package.json).
    sourcemap: 'external',
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

// What `loginkit token` loads must stay small: zod's full build (with every locale) once slipped in through an
// `import 'zod'`, nearly tripling the bundle. Only zod's mini build and its core belong in it.
const cliOutput = built
  .flatMap((result) => Object.entries(result.metafile?.outputs ?? {}))
  .find(([file]) => file.endsWith('cli/loginkit.cjs'))?.[1];
const unwanted = Object.entries(cliOutput?.inputs ?? {})
  .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && /node_modules\/zod\/(v4\/)?(locales\/(?!index\.js)|classic\/)/.test(input))
  .map(([input]) => input);
if (unwanted.length > 0) throw new Error(`The CLI bundle includes zod's full build (${unwanted[0]}): import from 'zod/mini'`);

// Code compiled by node:vm (bin/bundle-loader.cjs, for the code cache) cannot run import() without an
// experimental flag: the bundle's import() of ES-module-only packages goes through cli/esm-import.cjs, which
// Node loads itself. Every rewrite keeps the length of what it replaces, so that the source map holds.
const cliBundle = join(fresh, 'cli/loginkit.cjs');
const bundled = lazyChildProcess(readFileSync(cliBundle, 'utf8').replace(/\bimport\(("[^"]+")\)/g, '__esmI($1)'));
if (/\bimport\(/.test(bundled)) throw new Error('The CLI bundle has an import() with a computed specifier: import a string literal');
// The build id that a code cache is stamped with (bin/bundle-loader.cjs): V8 itself checks only the length.
const buildId = createHash('sha256').update(bundled).digest('hex').slice(0, 16);
writeFileSync(cliBundle, `${bundled}\n// loginkit build ${buildId}\n`);
writeFileSync(join(fresh, 'cli/esm-import.cjs'), '"use strict";\nmodule.exports = (specifier) => import(specifier);\n');

/**
 * node:child_process brings sockets and streams with it (3–4 ms): commander requires it for executable
 * subcommands, which loginkit has none of, and `exec`'s module names it when the CLI starts, so every
 * command would pay for it. In `code` (the CLI bundle) each require of it becomes a stand-in that requires
 * it on the first use of one of its functions; the build stops if a binding is used other than as
 * `binding.name`, which the stand-in could not serve.
 */
function lazyChildProcess(code) {
  return code.replace(/([\w$]+)=require\("node:child_process"\)/g, (assignment, binding) => {
    const uses = [...code.matchAll(new RegExp(`(?<![\\w$.])${binding.replace(/\$/g, '\\$')}(?![\\w$])(.)`, 'g'))];
    const other = uses.filter(([, next]) => next !== '.' && next !== '=');
    if (other.length > 1 || uses.filter(([, next]) => next === '=').length !== 1) {
      throw new Error(`The CLI bundle uses node:child_process as ${binding} other than by its functions: see lazyChildProcess()`);
    }
    const standIn = '__lazyChildProcess()';
    return `${binding}=${standIn.padEnd('require("node:child_process")'.length)}`;
  });
}

const old = join(root, `.dist-old-${process.pid}`);
try {
  renameSync(join(root, 'dist'), old);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(fresh, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
