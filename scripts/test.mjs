// `npm test`: checks formatting and types, installs the Debian packages the real-parts tests need when missing (chromium, gnome-keyring,
// dbus), builds, then runs test/**/*.test.ts with node:test on this Node.js. The tests run compiled, not under tsx
// (~0.4 s of CPU less per test process): esbuild compiles src/ and test/ into a mirror of the repository under
// node_modules/.cache/loginkit/compiled (scripts/compile-tests.mjs), where plain `node --enable-source-maps --test`
// runs them and stack traces still name the .ts files. The system tier (SYSTEM_TIER:
// database servers, network namespaces, the MCP conformance suite on Node.js 24) runs with `--all`
// (`npm run test:all`, and .ci/run); a file named on the command line runs whatever its tier. One headless Chromium
// serves the whole run (test/helpers/browser-server.ts): test processes connect to it instead of each
// launching its own. Files run the slowest first (as the last run measured them, scripts/test-times.mjs),
// so that the run does not end waiting on one long file started last.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileTests, compiledFile } from './compile-tests.mjs';
import { readTestTimes } from './test-times.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** What `npm run format` rewrites and `npm test` checks. */
const FORMATTED = ['src', 'test', 'scripts', 'bench', 'bin'];
const SHARED_BROWSER_VARIABLE = 'TEST_CHROMIUM_WS_ENDPOINT';
/**
 * Files that need more than Node.js, a browser and a keychain: PostgreSQL and Redis servers and network
 * namespaces as machines (fleets), and the MCP conformance suite (fetched Node.js 24). Together they take as
 * long as the rest of the suite, so they run with `--all`.
 */
const SYSTEM_TIER = ['test/fleet/', 'test/mcp/conformance.test.ts'];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

/** Starts the shared Chromium; resolves with its endpoint and a way to stop it, or undefined when it cannot start. */
function startSharedBrowser() {
  const child = spawn(process.execPath, ['--enable-source-maps', compiledFile('test/helpers/browser-server.ts')], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.end();
    });
  return new Promise((resolve) => {
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const endpoint = /^(ws:\/\/\S+)$/m.exec(output)?.[1];
      if (endpoint) resolve({ endpoint, stop });
    });
    child.once('error', () => resolve(undefined));
    child.once('exit', () => resolve(undefined));
  });
}

function runTests(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: root, env });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const bin = (name, file) => join(dirname(require.resolve(`${name}/package.json`)), file);
// The house style and the types, everywhere (src, test, scripts, bench): a failure names the files.
// --cache skips the files whose contents have not changed since they last passed (~6 s of CPU otherwise); the
// cache is Prettier's default, node_modules/.cache/prettier/, which `npm run format` keeps too.
if (run(process.execPath, [bin('prettier', 'bin/prettier.cjs'), '--check', '--cache', '--log-level', 'warn', ...FORMATTED]) !== 0) {
  console.error('Formatting differs from the house style: npm run format');
  process.exit(1);
}
if (run(process.execPath, [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit']) !== 0) process.exit(1);
const args = process.argv.slice(2);
const all = args.includes('--all');
const only = args.filter((arg) => arg !== '--all');
if (run('bash', [join(root, 'scripts/ensure-system-deps.sh'), ...(all || only.length > 0 ? ['--system'] : [])]) !== 0) process.exit(1);
// Compiled first (~0.4 s): the shared Chromium's server runs from the mirror too, and starts while the build runs.
await compileTests();
const browser = startSharedBrowser();
if (run(process.execPath, [join(root, 'scripts/build.mjs')]) !== 0) {
  await (await browser)?.stop();
  process.exit(1);
}

const times = readTestTimes();
// Unknown files (new ones) first: they may be slow.
const slowestFirst = (a, b) => (times[b] ?? Infinity) - (times[a] ?? Infinity) || a.localeCompare(b);
const inTier = (file) => all || !SYSTEM_TIER.some((prefix) => file.startsWith(prefix));
const files = (
  only.length > 0 ? only.map((file) => relative(root, resolvePath(root, file))) : testFiles(join(root, 'test')).filter(inTier)
).sort(slowestFirst);
// Three files at a time on two cores: many tests spend their time waiting (device polling intervals, timeouts
// they provoke, processes they kill), and a third file fills those waits (measured: 2 → 124 s, 3 → 107 s, 4 → 105 s).
const concurrency = process.env.LOGINKIT_TEST_CONCURRENCY ?? '3';
const shared = await browser;
if (!shared) console.log('warning: the shared Chromium did not start; each test process launches its own');
console.log(
  `Running ${files.length} test files${all || only.length > 0 ? '' : ' (npm run test:all adds the system tier)'} on Node.js ${process.version}`,
);
const code = await runTests(
  [
    '--enable-source-maps',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-force-exit',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/test-times.mjs')}`,
    '--test-reporter-destination=stdout',
    ...files.map(compiledFile),
  ],
  shared ? { ...process.env, [SHARED_BROWSER_VARIABLE]: shared.endpoint } : process.env,
);
await shared?.stop();
process.exit(code);
