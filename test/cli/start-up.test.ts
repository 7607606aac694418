// What `loginkit token` loads when the stored token is valid: scripts call it in loops, so its start-up must
// stay one file and a few built-ins (the bench measures the time; this pins down the cause).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { chmod, cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CLI_ENTRY, cliEnvironment, makeHome } from '../helpers/cli.js';
import { refusedPort } from '../helpers/stand-in.js';
import { seedValidToken } from '../helpers/store-fixtures.js';

// Real paths, as Node.js loads and records files (npm test runs this file from a mirror of symlinks).
const RECORDER = realpathSync(fileURLToPath(new URL('../helpers/module-recorder.cjs', import.meta.url)));
const ROOT = join(dirname(CLI_ENTRY), '..');

test('`loginkit token` on a valid token loads the CLI bundle alone: no dependency, no crypto, network or stream modules', async () => {
  const home = await makeHome();
  const record = join(home, 'modules.json');
  try {
    await seedValidToken(home, 'demo', 'valid-access-token');
    const run = await promisify(execFile)(process.execPath, ['--require', RECORDER, CLI_ENTRY, 'token', 'demo'], {
      env: cliEnvironment(home, { LOGINKIT_STORE: 'file', LOGINKIT_TEST_MODULES: record, XDG_CACHE_HOME: join(home, 'cache') }),
    });
    assert.equal(run.stdout, 'valid-access-token\n');
    const loaded = JSON.parse(await readFile(record, 'utf8')) as { files: string[]; builtins: string[] };
    assert.deepEqual(
      loaded.files.filter((file) => file !== RECORDER).map((file) => file.slice(ROOT.length + 1)),
      ['bin/loginkit.cjs', 'bin/bundle-loader.cjs', 'dist/cli/loginkit.cjs'],
    );
    for (const heavy of ['crypto', 'net', 'http', 'stream', 'child_process', 'readline']) {
      assert.ok(!loaded.builtins.includes(heavy), `node:${heavy} was loaded: ${loaded.builtins.join(' ')}`);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

interface BundleLoader {
  compile(file: string, argv: string[], env: NodeJS.ProcessEnv): { cachedDataRejected?: boolean };
}

test('the CLI makes its code cache where it runs: on the first run of a command, for that path, build and V8; used from then on', async () => {
  const loader = createRequire(import.meta.url)(join(ROOT, 'bin/bundle-loader.cjs')) as BundleLoader;
  const home = await makeHome();
  const caches = join(home, 'cache');
  const env = cliEnvironment(home, { LOGINKIT_STORE: 'file', XDG_CACHE_HOME: caches });
  const elsewhere = await mkdtemp(join(tmpdir(), 'loginkit-moved-'));
  try {
    await seedValidToken(home, 'demo', 'valid-access-token');
    const bundle = join(ROOT, 'dist/cli/loginkit.cjs');
    const tokenRun = (entry: string) => promisify(execFile)(process.execPath, [entry, 'token', 'demo'], { env });
    assert.equal((await tokenRun(CLI_ENTRY)).stdout, 'valid-access-token\n');
    const [made, ...others] = await readdir(join(caches, 'loginkit'));
    assert.deepEqual(others, []);
    assert.match(made ?? '', /^cli-[0-9a-f]{8}-token\.v8cache$/);
    assert.equal((await stat(join(caches, 'loginkit'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(caches, 'loginkit', made ?? ''))).mode & 0o777, 0o600);
    assert.equal(loader.compile(bundle, ['token', 'demo'], env).cachedDataRejected, false, 'V8 takes the cache made by the first run');
    assert.equal(loader.compile(bundle, ['status'], env).cachedDataRejected, undefined, 'each command has its own');

    // The same package installed elsewhere: V8 would keep the first path in its stack traces, so it makes its own.
    await cp(join(ROOT, 'bin'), join(elsewhere, 'bin'), { recursive: true });
    await cp(join(ROOT, 'dist/cli'), join(elsewhere, 'dist/cli'), { recursive: true });
    const moved = join(elsewhere, 'dist/cli/loginkit.cjs');
    assert.equal(loader.compile(moved, ['token'], env).cachedDataRejected, undefined);
    await tokenRun(join(elsewhere, 'bin/loginkit.cjs'));
    assert.equal(loader.compile(moved, ['token'], env).cachedDataRejected, false);

    // Another build at that path (an upgrade): its cache is not offered, whatever its length.
    const source = await readFile(moved, 'utf8');
    await writeFile(moved, source.replace(/\/\/ loginkit build [0-9a-f]{16}\n$/, '// loginkit build 0000000000000000\n'));
    assert.equal(loader.compile(moved, ['token'], env).cachedDataRejected, undefined);

    // A cache folder that others may write to is not trusted.
    await chmod(join(caches, 'loginkit'), 0o777);
    assert.equal(loader.compile(bundle, ['token'], env).cachedDataRejected, undefined);
  } finally {
    await rm(home, { recursive: true, force: true });
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test("import('loginkit') and getToken() of another provider load no cloud SDK; a Google Cloud provider loads google-auth-library", async () => {
  const home = await makeHome();
  try {
    // The package as embedders import it (dist/index.js), in a process of its own; CommonJS packages that
    // import() loads are recorded in require.cache.
    const script = `
      const { createLoginkit } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist/index.js')).href)});
      const kit = createLoginkit({ home: process.env.LOGINKIT_HOME, env: { OPENAI_API_KEY: 'sk-proj-${'x'.repeat(40)}' }, store: 'memory' });
      await kit.getToken('openai');
      const { createRequire } = await import('node:module');
      const cloud = () => Object.keys(createRequire(import.meta.url).cache).filter((f) => /google-auth-library|gaxios|@aws-sdk/.test(f));
      const before = cloud().length;
      await kit.getToken('vertex').catch(() => undefined);
      console.log(JSON.stringify({ before, after: cloud().length }));`;
    const adc = join(home, 'adc.json');
    const unreachable = `http://127.0.0.1:${await refusedPort()}/token`;
    await writeFile(
      adc,
      JSON.stringify({ type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r', token_uri: unreachable }),
    );
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { vertex: { type: 'google-cloud', credentialsFile: adc } } }));
    const run = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: cliEnvironment(home, {}),
    });
    const { before, after } = JSON.parse(run.stdout) as { before: number; after: number };
    assert.equal(before, 0, 'no cloud SDK module loaded by import() and getToken() of an API-key provider');
    assert.ok(after > 0, 'the check sees google-auth-library once a Google Cloud provider is used');
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
