// The keychain backend against a real Secret Service: a private D-Bus session with gnome-keyring on it. This
// process talks to that bus too (the keychain reads process.env), so the CLI runs in process unless a test
// gives it another D-Bus setting, or is about another process.
import assert from 'node:assert/strict';
import { readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { keyFingerprint } from '../../src/store/encrypted-codec.js';
import { createCredentialStore } from '../../src/store/select-store.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { type SecretService, credentialEntry, seedStore, startSecretService, storeText } from './support.js';

type Keyring = typeof import('@napi-rs/keyring');
const { Entry } = createRequire(import.meta.url)('@napi-rs/keyring') as Keyring;

const TOKEN_ACME = 'keychain-test-access-token-acme-0123456789';
const TOKEN_ZETA = 'keychain-test-access-token-zeta-9876543210';

function keychainEntry(home: string, keyId: string) {
  return new Entry('loginkit', `${join(home, 'credentials.json')}#${keyId}`, { linux: { store: 'secret-service' } });
}

describe('keychain backend (gnome-keyring on a private D-Bus session)', () => {
  let service: SecretService;
  const homes: string[] = [];
  const home = async (): Promise<string> => {
    const dir = await makeHome();
    homes.push(dir);
    return dir;
  };

  before(async () => {
    service = await startSecretService();
    process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
  });
  after(async () => {
    await service.stop();
    for (const dir of homes) await rm(dir, { recursive: true, force: true });
  });

  test('the store file holds no token, its key is in the keychain, and another process reads the credentials', async () => {
    const dir = await home();
    await seedStore(dir, 'keychain', { ...credentialEntry('acme', TOKEN_ACME), ...credentialEntry('zeta', TOKEN_ZETA) });

    const text = await storeText(dir);
    assert.ok(!text.includes(TOKEN_ACME) && !text.includes(TOKEN_ZETA) && !text.includes('refresh-'), 'no token in the file');
    const envelope = JSON.parse(text) as { protection: string; keyId: string };
    assert.equal(envelope.protection, 'keychain');

    const secret = keychainEntry(dir, envelope.keyId).getSecret();
    assert.ok(secret, 'the data key is in the keychain under service "loginkit"');
    assert.equal(secret.length, 32);
    assert.equal(keyFingerprint(Uint8Array.from(secret)), envelope.keyId);

    const token = await runCliProcess(['token', 'zeta'], { home: dir, env: service.env });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, `${TOKEN_ZETA}\n`);

    const status = await runCli(['status', '--json'], { home: dir, env: service.env });
    assert.equal(status.code, 0, status.stderr);
    const providers = (JSON.parse(status.stdout) as { providers: Array<{ id: string; protection: string; store: string }> }).providers;
    assert.deepEqual(
      providers.map((p) => [p.id, p.protection]),
      [
        ['acme', 'encrypted (keychain)'],
        ['zeta', 'encrypted (keychain)'],
      ],
    );
    assert.equal(providers[0]?.store, `${join(dir, 'credentials.json')} (encrypted (keychain))`);

    const text2 = await runCli(['status'], { home: dir, env: service.env });
    assert.match(text2.stdout, /stored in .*credentials\.json \(encrypted \(keychain\)\)/);

    const report = await runCli(['store', 'status', '--json'], { home: dir, env: service.env });
    assert.equal(report.code, 0, report.stderr);
    assert.deepEqual(JSON.parse(report.stdout), {
      path: join(dir, 'credentials.json'),
      exists: true,
      backend: 'keychain',
      protection: 'encrypted (keychain)',
      selection: { choice: 'auto', source: 'default' },
      key: { keychainService: 'loginkit', keychainAccount: `${join(dir, 'credentials.json')}#${envelope.keyId}` },
      entries: 2,
      problem: null,
    });
  });

  test('auto picks the keychain when a round trip works, without a warning', async () => {
    const dir = await home();
    const warnings: string[] = [];
    const store = createCredentialStore({ path: join(dir, 'credentials.json'), env: {}, onWarning: (message) => warnings.push(message) });
    assert.equal(store.info.protection, 'not created yet');
    await store.update(() => credentialEntry('acme', TOKEN_ACME));
    assert.deepEqual(warnings, []);
    assert.equal(store.info.protection, 'encrypted (keychain)');
    assert.equal((JSON.parse(await storeText(dir)) as { protection: string }).protection, 'keychain');
    // The probe's throwaway entry is gone.
    assert.equal(new Entry('loginkit', `${join(dir, 'credentials.json')}#probe`, { linux: { store: 'secret-service' } }).getSecret(), null);
  });

  test('a keychain store is read with the keychain even when LOGINKIT_STORE is unset and auto would now pick file', async () => {
    const dir = await home();
    await seedStore(dir, 'keychain', credentialEntry('acme', TOKEN_ACME));
    const token = await runCliProcess(['token', 'acme'], {
      home: dir,
      env: { ...service.env, DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: undefined },
    });
    assert.equal(token.code, 1, 'no keychain now, and no silent second store');
    assert.match(token.stderr, /Cannot read the key of the credential store .* in the OS keychain: there is no D-Bus session/);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('credentials')),
      ['credentials.json'],
    );
  });

  test('the key missing from the keychain: a clear error and the file untouched; store reset moves it aside, never deletes', async () => {
    const dir = await home();
    await seedStore(dir, 'keychain', credentialEntry('acme', TOKEN_ACME));
    const before = await storeText(dir);
    const { keyId } = JSON.parse(before) as { keyId: string };
    assert.equal(keychainEntry(dir, keyId).deleteCredential(), true);

    const token = await runCli(['token', 'acme'], { home: dir, env: service.env });
    assert.equal(token.code, 1);
    assert.match(
      token.stderr,
      /The key of the credential store .*credentials\.json is not in the OS keychain \(service "loginkit", account ".*#[0-9a-f]{16}"\); the file was left untouched\./,
    );
    assert.match(token.stderr, /Restore that keychain entry, or move the store aside and sign in again: loginkit store reset/);
    assert.equal(await storeText(dir), before);

    const status = await runCli(['store', 'status'], { home: dir, env: service.env });
    assert.equal(status.code, 1);
    assert.match(status.stdout, /problem: The key of the credential store/);

    const reset = await runCli(['store', 'reset'], { home: dir, env: service.env });
    assert.equal(reset.code, 0, reset.stderr);
    const moved = (await readdir(dir)).filter((name) => name.startsWith('credentials.json.corrupt-'));
    assert.equal(moved.length, 1);
    assert.equal(await readFile(join(dir, moved[0] as string), 'utf8'), before, 'moved aside as it was');
    const after = await runCli(['token', 'acme'], { home: dir, env: service.env });
    assert.equal(after.code, 3, 'now simply not signed in');
  });

  test('store reset refuses a store that opens, unless forced', async () => {
    const dir = await home();
    await seedStore(dir, 'keychain', credentialEntry('acme', TOKEN_ACME));
    const reset = await runCli(['store', 'reset'], { home: dir, env: service.env });
    assert.equal(reset.code, 1);
    assert.match(
      reset.stderr,
      /opens fine \(1 entry\); nothing was changed\.\nTo sign out everywhere: loginkit logout --all; to move it aside anyway: loginkit store reset --force/,
    );
    assert.equal((await readdir(dir)).filter((name) => name.includes('corrupt')).length, 0);
  });

  test('an explicit choice of another backend refuses the store and names the migration', async () => {
    const dir = await home();
    await seedStore(dir, 'keychain', credentialEntry('acme', TOKEN_ACME));
    const token = await runCli(['token', 'acme'], { home: dir, env: { ...service.env, LOGINKIT_STORE: 'file' } });
    assert.equal(token.code, 1);
    assert.match(
      token.stderr,
      /is a keychain-encrypted store, but LOGINKIT_STORE asks for file; nothing was changed\.\nMove every credential: loginkit store migrate --to file/,
    );
  });
});
