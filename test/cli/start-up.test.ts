// What `loginkit token` loads when the stored token is valid: scripts call it in loops, so its start-up must
// stay one file and a few built-ins (the bench measures the time; this pins down the cause).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLI_ENTRY, cliEnvironment, makeHome } from '../helpers/cli.js';
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
      env: cliEnvironment(home, { LOGINKIT_STORE: 'file', LOGINKIT_TEST_MODULES: record }),
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

test('the CLI bundle is compiled from the code cache the build made for it, and a copy elsewhere compiles without it', async () => {
  const loader = createRequire(import.meta.url)(join(ROOT, 'bin/bundle-loader.cjs')) as {
    compile(file: string): { cachedDataRejected?: boolean };
  };
  const bundle = join(ROOT, 'dist/cli/loginkit.cjs');
  assert.equal(loader.compile(bundle).cachedDataRejected, false, 'V8 took the cache');
  const elsewhere = await mkdtemp(join(tmpdir(), 'loginkit-moved-'));
  try {
    await cp(join(ROOT, 'dist/cli'), elsewhere, { recursive: true });
    // V8 would keep the build's file name (stack traces, import() resolution): the cache is not offered.
    assert.equal(loader.compile(join(elsewhere, 'loginkit.cjs')).cachedDataRejected, undefined);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});
