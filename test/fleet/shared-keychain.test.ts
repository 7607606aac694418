// The OS keychain as the data-key source of a shared store: a real gnome-keyring on a private D-Bus session
// and a real PostgreSQL. `store init --generate-key --keychain` saves the key; a second home with only
// config.json and the same keychain reads the credential without LOGINKIT_DATA_KEY; a wrong key in the
// keychain is refused with nothing written; no D-Bus session is a clear error. This process talks to the
// same bus (the keychain reads process.env), so the CLI runs in process.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { keyFingerprint } from '../../src/store/encrypted-codec.js';
import { type PostgresServer, databasesMissing, startPostgres } from '../helpers/databases.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { type SecretService, startSecretService } from '../store/support.js';
import { fleetEnv, initWithNewKey, machineHome, seedSharedToken, sharedStore } from './support.js';

type Keyring = typeof import('@napi-rs/keyring');
const { Entry } = createRequire(import.meta.url)('@napi-rs/keyring') as Keyring;

const missing = databasesMissing();
const PG_PASSWORD = 'pg-Keychain-pass-5530';

function keychainEntry(keyId: string) {
  return new Entry('loginkit', `shared-data-key#${keyId}`, { linux: { store: 'secret-service' } });
}

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `a secret was printed:\n${text}`);
}

/** Runs `task` with no D-Bus session in this process's environment (where the keychain looks for it). */
async function withoutDBus<T>(task: () => Promise<T>): Promise<T> {
  const saved = { address: process.env.DBUS_SESSION_BUS_ADDRESS, runtime: process.env.XDG_RUNTIME_DIR };
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  delete process.env.XDG_RUNTIME_DIR;
  try {
    return await task();
  } finally {
    if (saved.address !== undefined) process.env.DBUS_SESSION_BUS_ADDRESS = saved.address;
    if (saved.runtime !== undefined) process.env.XDG_RUNTIME_DIR = saved.runtime;
  }
}

describe('shared store: the data key in the OS keychain', { skip: missing, timeout: 180_000 }, () => {
  let service: SecretService;
  let postgres: PostgresServer;
  let databases = 0;
  /** A fresh database of its own for one test. */
  const freshUrl = (): string => {
    const name = `keys${++databases}`;
    postgres.sql(`CREATE DATABASE ${name}`);
    return postgres.url('127.0.0.1', name);
  };
  const dump = (url: string): string =>
    postgres.sqlOn(
      url.split('/').pop() ?? '',
      "SELECT coalesce(string_agg(key || ':' || version || ':' || data, chr(10) ORDER BY key), '') FROM loginkit_store",
    );

  before(async () => {
    service = await startSecretService();
    process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
    postgres = await startPostgres({ password: PG_PASSWORD });
  });
  after(async () => {
    postgres?.close();
    await service?.stop();
  });

  test('init --generate-key --keychain saves the key; a home with only config.json then reads the credential without LOGINKIT_DATA_KEY', async () => {
    const url = freshUrl();
    const admin = await makeHome();
    const init = await runCli(['store', 'init', '--generate-key', '--keychain'], { home: admin, env: { LOGINKIT_STORE: url } });
    assert.equal(init.code, 0, init.stderr);
    const key = init.stdout.trim();
    assert.equal(Buffer.from(key, 'base64').length, 32, 'the key alone on stdout: other machines still need it');
    const keyId = keyFingerprint(Buffer.from(key, 'base64'));
    assert.match(
      init.stderr,
      new RegExp(`Saved the data key in this machine's OS keychain \\(service "loginkit", account "shared-data-key#${keyId}"\\)`),
    );
    assert.deepEqual(keychainEntry(keyId).getSecret(), [...Buffer.from(key, 'base64')]);
    assertNoSecret(init.stderr, key, PG_PASSWORD);

    await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'read-with-the-keychain-key');
    const home = await machineHome(url);
    const token = await runCli(['token', 'demo'], { home, env: {} });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, 'read-with-the-keychain-key\n');

    const status = await runCli(['store', 'status'], { home, env: {} });
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(
        `key: a data key \\(key id ${keyId}\\), found in this machine's OS keychain \\(service "loginkit", account "shared-data-key#${keyId}"\\)`,
      ),
    );
    const json = await runCli(['store', 'status', '--json'], { home, env: {} });
    assert.deepEqual((JSON.parse(json.stdout) as { key: unknown }).key, {
      dataKeyId: keyId,
      foundIn: 'keychain',
      keychainService: 'loginkit',
      keychainAccount: `shared-data-key#${keyId}`,
    });

    // The variable and the command come first, and status says so.
    const byVariable = await runCli(['store', 'status', '--json'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.deepEqual((JSON.parse(byVariable.stdout) as { key: unknown }).key, { dataKeyId: keyId, foundIn: 'LOGINKIT_DATA_KEY' });
    const keyFile = join(home, 'data-key');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    const byCommand = await runCli(['store', 'status'], { home, env: { LOGINKIT_DATA_KEY_COMMAND: `cat ${keyFile}` } });
    assert.match(
      byCommand.stdout,
      new RegExp(`key: a data key \\(key id ${keyId}\\), printed by LOGINKIT_DATA_KEY_COMMAND on this machine`),
    );

    // Idempotent: the entry is there already, whichever way the key is given.
    for (const env of [{}, { LOGINKIT_DATA_KEY: key }]) {
      const again = await runCli(['store', 'init', '--keychain', '--json'], { home, env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /already initialised .*; nothing was changed\.\nThe data key is already in this machine's OS keychain/);
      const result = JSON.parse(again.stdout) as { created: boolean; dataKey: unknown; keychain: unknown };
      assert.deepEqual([result.created, result.dataKey], [false, null]);
      assert.deepEqual(result.keychain, { service: 'loginkit', account: `shared-data-key#${keyId}`, alreadyThere: true });
      assertNoSecret(again.stdout + again.stderr, key, PG_PASSWORD);
    }
    for (const result of [token, status, json, byVariable, byCommand]) assertNoSecret(result.stdout + result.stderr, key, PG_PASSWORD);
  });

  test('init --keychain on an existing store saves the key LOGINKIT_DATA_KEY gives, after checking it; a wrong one is refused and nothing is saved', async () => {
    const url = freshUrl();
    const key = await initWithNewKey(url);
    const keyId = keyFingerprint(Buffer.from(key, 'base64'));
    const home = await machineHome(url);

    const wrong = randomBytes(32).toString('base64');
    const refused = await runCli(['store', 'init', '--keychain'], { home, env: { LOGINKIT_DATA_KEY: wrong } });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /The data key given \(LOGINKIT_DATA_KEY or its command\) is not the key for the shared store .*; nothing was read or written/,
    );
    assert.equal(keychainEntry(keyId).getSecret(), null, 'nothing was saved');

    const saved = await runCli(['store', 'init', '--keychain', '--json'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stderr, /Saved the data key in this machine's OS keychain/);
    assert.deepEqual((JSON.parse(saved.stdout) as { keychain: unknown }).keychain, {
      service: 'loginkit',
      account: `shared-data-key#${keyId}`,
      alreadyThere: false,
    });
    assertNoSecret(saved.stdout + saved.stderr + refused.stdout + refused.stderr, key, wrong, PG_PASSWORD);

    await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'saved-later');
    const token = await runCli(['token', 'demo'], { home, env: {} });
    assert.equal(token.stdout, 'saved-later\n', token.stderr);
  });

  test('a wrong key in the keychain is refused, and nothing is written', async () => {
    const url = freshUrl();
    const key = await initWithNewKey(url);
    const keyId = keyFingerprint(Buffer.from(key, 'base64'));
    await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'kept-as-it-was');
    keychainEntry(keyId).setSecret(randomBytes(32));
    const before = dump(url);

    const home = await machineHome(url);
    const token = await runCli(['token', 'demo'], { home, env: {} });
    assert.equal(token.code, 1);
    assert.match(
      token.stderr,
      new RegExp(
        `The data key in the OS keychain \\(service "loginkit", account "shared-data-key#${keyId}"\\) is not the key for the shared store .*; nothing was read or written\\.\\nSave the right one over it: loginkit store init --keychain`,
      ),
    );
    assert.ok(token.stderr.trim().split('\n').length <= 2, token.stderr);
    const login = await runCli(['login', 'openai', '--with-api-key', '--no-verify'], {
      home,
      env: {},
      input: `sk-proj-${'a'.repeat(40)}\n`,
    });
    assert.equal(login.code, 1, 'a write is refused too');
    assert.match(login.stderr, /The data key in the OS keychain .* is not the key/);
    await assert.rejects(
      sharedStore({ LOGINKIT_STORE: url }).update((entries) => ({ ...entries, extra: 1 })),
      /is not the key/,
    );
    assert.equal(dump(url), before, 'nothing was written');

    // The fix the message names: save the right key over it.
    const fixed = await runCli(['store', 'init', '--keychain'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal((await runCli(['token', 'demo'], { home, env: {} })).stdout, 'kept-as-it-was\n');
  });

  test('no key anywhere: the error names the keychain too; no D-Bus session: a clear error, and no store is created', async () => {
    const url = freshUrl();
    const key = await initWithNewKey(url);
    const home = await machineHome(url);
    const none = await runCli(['token', 'demo'], { home, env: {} });
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /encrypted with a data key, and none was given, nor is it in the OS keychain\.\nSet LOGINKIT_DATA_KEY .* or LOGINKIT_DATA_KEY_COMMAND .*, or save the key in this machine's keychain: loginkit store init --keychain/,
    );

    await withoutDBus(async () => {
      const noBus = await runCli(['token', 'demo'], { home, env: {} });
      assert.equal(noBus.code, 1);
      assert.match(noBus.stderr, /none was given, and the OS keychain cannot be used \(there is no D-Bus session/);
      assert.ok(noBus.stderr.trim().split('\n').length <= 2, noBus.stderr);

      const save = await runCli(['store', 'init', '--keychain'], { home, env: { LOGINKIT_DATA_KEY: key } });
      assert.equal(save.code, 1);
      assert.match(
        save.stderr,
        /Cannot save the data key of the shared store .* in the OS keychain: there is no D-Bus session.*; nothing was changed\.\nRun it where the keychain works/,
      );
      assert.ok(save.stderr.trim().split('\n').length <= 2, save.stderr);

      const newUrl = freshUrl();
      const admin = await makeHome();
      const create = await runCli(['store', 'init', '--generate-key', '--keychain'], { home: admin, env: { LOGINKIT_STORE: newUrl } });
      assert.equal(create.code, 1);
      assert.equal(create.stdout, '', 'no key printed for a store that was not created');
      assert.match(create.stderr, /Cannot save the data key .* there is no D-Bus session/);
      const status = await runCli(['store', 'status'], { home: admin, env: { LOGINKIT_STORE: newUrl } });
      assert.match(status.stdout + status.stderr, /is not initialised/, 'no store was created');
      for (const result of [noBus, save, create]) assertNoSecret(result.stdout + result.stderr, key, PG_PASSWORD);
    });

    const noKeyYet = await runCli(['store', 'init', '--keychain'], { home: await makeHome(), env: { LOGINKIT_STORE: freshUrl() } });
    assert.equal(noKeyYet.code, 1);
    assert.match(noKeyYet.stderr, /there is none yet; nothing was changed\.\nMake one with: loginkit store init --generate-key --keychain/);
  });
});
