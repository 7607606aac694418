// `loginkit store migrate` between every pair of backends (file, keychain, passphrase) against a real Secret
// Service, and kill -9 in the middle of a migration leaving every credential readable. This process talks to
// the same bus (the keychain reads process.env), so the CLI runs in process except where it is killed.
import assert from 'node:assert/strict';
import { readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { MigrationStep } from '../../src/store/admin.js';
import type { StoreBackend } from '../../src/store/select-store.js';
import { type Bundle, bundleProgram } from '../helpers/bundle.js';
import { makeHome, runCli, spawnCli } from '../helpers/cli.js';
import { type SecretService, credentialEntry, killMigrationAt, seedStore, startSecretService, storeText } from './support.js';

type Keyring = typeof import('@napi-rs/keyring');
const { Entry } = createRequire(import.meta.url)('@napi-rs/keyring') as Keyring;

const BACKENDS: StoreBackend[] = ['file', 'keychain', 'passphrase'];
const PASSPHRASE = 'migration passphrase';
const CREDENTIALS = { acme: 'migrate-token-acme-111111', zeta: 'migrate-token-zeta-222222', beta: 'migrate-token-beta-333333' };
const FIXTURE = fileURLToPath(new URL('./fixtures/migrate-until.ts', import.meta.url));

function backendOf(text: string): StoreBackend {
  const json = JSON.parse(text) as { protection?: StoreBackend };
  return json.protection ?? 'file';
}

function keychainKey(home: string, text: string): number[] | null {
  const { keyId } = JSON.parse(text) as { keyId: string };
  return new Entry('loginkit', `${join(home, 'credentials.json')}#${keyId}`, { linux: { store: 'secret-service' } }).getSecret();
}

describe('store migrate', { timeout: 240_000 }, () => {
  let service: SecretService;
  let env: Record<string, string>;
  let fixture: Bundle;
  const homes: string[] = [];
  const home = async (): Promise<string> => {
    const dir = await makeHome();
    homes.push(dir);
    return dir;
  };
  const seeded = async (backend: StoreBackend): Promise<string> => {
    const dir = await home();
    const entries = Object.entries(CREDENTIALS).map(([provider, token]) => credentialEntry(provider, token));
    await seedStore(dir, backend, Object.assign({}, ...entries), env);
    return dir;
  };
  /** Every credential reads back through the CLI, whichever backend the file is in now. */
  const assertAllReadable = async (dir: string, why: string): Promise<void> => {
    for (const [provider, token] of Object.entries(CREDENTIALS)) {
      const result = await runCli(['token', provider], { home: dir, env });
      assert.equal(result.code, 0, `${why}: ${provider}: ${result.stderr}`);
      assert.equal(result.stdout, `${token}\n`, `${why}: ${provider}`);
    }
  };

  /** One run opens the store and lists every credential as signed in: cheaper than a `token` per credential. */
  const assertAllListed = async (dir: string, why: string): Promise<void> => {
    const result = await runCli(['status', '--json'], { home: dir, env });
    assert.equal(result.code, 0, `${why}: ${result.stderr}`);
    const providers = (JSON.parse(result.stdout) as { providers: Array<{ id: string; loggedIn: boolean }> }).providers;
    assert.deepEqual(
      providers
        .filter((p) => p.loggedIn)
        .map((p) => p.id)
        .sort(),
      Object.keys(CREDENTIALS).sort(),
      why,
    );
  };

  before(async () => {
    service = await startSecretService();
    process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
    fixture = await bundleProgram(FIXTURE);
    env = { ...service.env, LOGINKIT_PASSPHRASE: PASSPHRASE };
  });
  after(async () => {
    await service.stop();
    await fixture.dispose();
    for (const dir of homes) await rm(dir, { recursive: true, force: true });
  });

  for (const from of BACKENDS) {
    for (const to of BACKENDS.filter((backend) => backend !== from)) {
      test(`${from} → ${to}: every credential moves, the old key goes, nothing is left in plaintext`, async () => {
        const dir = await seeded(from);
        const before = await storeText(dir);
        const result = await runCli(['store', 'migrate', '--to', to, '--json'], { home: dir, env });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, new RegExp(`^Moved 3 credentials from ${from} to ${to} in .*credentials\\.json\\.\\n$`));
        const summary = JSON.parse(result.stdout) as {
          from: string;
          to: string;
          entries: number;
          changed: boolean;
          leftover: string | null;
        };
        assert.deepEqual([summary.from, summary.to, summary.entries, summary.changed, summary.leftover], [from, to, 3, true, null]);

        const after = await storeText(dir);
        assert.equal(backendOf(after), to);
        for (const token of Object.values(CREDENTIALS)) assert.equal(after.includes(token), to === 'file');
        if (from === 'keychain') assert.equal(keychainKey(dir, before), null, 'the old key was removed from the keychain');
        if (to === 'keychain') assert.equal(keychainKey(dir, after)?.length, 32, 'the new key is in the keychain');
        assert.deepEqual(
          (await readdir(dir)).filter((name) => name.includes('credentials')),
          ['credentials.json'],
          'no temporary file left',
        );
        await assertAllReadable(dir, `${from} → ${to}`);

        const status = await runCli(['status', '--json'], { home: dir, env });
        const protections = (JSON.parse(status.stdout) as { providers: Array<{ protection: string }> }).providers.map((p) => p.protection);
        assert.deepEqual(new Set(protections), new Set([to === 'file' ? 'plaintext file' : `encrypted (${to})`]));
      });
    }
  }

  test('to the backend in use: nothing to do; on an empty home: an empty store of that backend', async () => {
    const dir = await seeded('passphrase');
    const same = await runCli(['store', 'migrate', '--to', 'passphrase'], { home: dir, env });
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stderr, /already uses passphrase; nothing to do/);

    const empty = await home();
    const created = await runCli(['store', 'migrate', '--to', 'keychain'], { home: empty, env });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /Created an empty keychain credential store/);
    assert.equal(backendOf(await storeText(empty)), 'keychain');
  });

  test('a store choice in config.json follows the migration; LOGINKIT_STORE is named', async () => {
    const dir = await seeded('file');
    await writeFile(join(dir, 'config.json'), `${JSON.stringify({ store: 'file' })}\n`, { mode: 0o600 });
    const result = await runCli(['store', 'migrate', '--to', 'passphrase'], { home: dir, env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /config\.json now says "store": "passphrase"\./);
    assert.equal((JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { store: string }).store, 'passphrase');
    await assertAllReadable(dir, 'after the config update');

    const back = await runCli(['store', 'migrate', '--to', 'file'], { home: dir, env: { ...env, LOGINKIT_STORE: 'passphrase' } });
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stderr, /LOGINKIT_STORE still asks for passphrase: change it to file, or remove it\./);
  });

  for (const [from, to] of [
    ['file', 'keychain'],
    ['keychain', 'passphrase'],
    ['passphrase', 'file'],
  ] as Array<[StoreBackend, StoreBackend]>) {
    for (const step of ['read', 'write', 'verify', 'switch', 'cleanup'] as MigrationStep[]) {
      test(`kill -9 at "${step}" of ${from} → ${to}: every credential stays readable`, async () => {
        const dir = await seeded(from);
        await killMigrationAt(fixture, dir, env, to, step);

        const expected = step === 'cleanup' ? to : from;
        assert.equal(backendOf(await storeText(dir)), expected, `after "${step}" the store is still (or already) ${expected}`);
        await assertAllListed(dir, `killed at ${step}`);
      });
    }
  }

  test('kill -9 of the CLI at random moments of file → passphrase: never a lost credential', async () => {
    for (const delay of [40, 150, 300]) {
      const dir = await seeded('file');
      const migration = spawnCli(['store', 'migrate', '--to', 'passphrase'], { home: dir, env });
      await new Promise((resolve) => setTimeout(resolve, delay));
      migration.child.kill('SIGKILL');
      await migration.exited.catch(() => undefined);
      await assertAllListed(dir, `killed after ${delay} ms`);
    }
  });

  test('after a killed migration, the next one cleans up and completes', async () => {
    const dir = await seeded('keychain');
    await killMigrationAt(fixture, dir, env, 'file', 'switch');
    assert.equal(
      (await readdir(dir)).filter((name) => name.includes('.migrating-')).length,
      1,
      'the killed migration left its temporary file',
    );

    // The dead process's lock goes stale 10 s after its last heartbeat, and the next migration then takes it
    // over. Backdate the heartbeat rather than wait for it (stale-lock.test.ts covers the waiting).
    const lock = join(dir, 'locks', 'store-write.lock');
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(lock, longAgo, longAgo);
    const again = await runCli(['store', 'migrate', '--to', 'file'], { home: dir, env, timeoutMs: 40_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('credentials')),
      ['credentials.json'],
    );
    assert.equal(backendOf(await storeText(dir)), 'file');
    await assertAllReadable(dir, 'after the second migration');
  });
});
