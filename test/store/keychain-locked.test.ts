// A keychain that is there but locked (gnome-keyring restarted without its password, no prompt possible):
// every keychain operation fails fast with the reason, and nothing is written or moved.
// A file of its own: libdbus keeps one session-bus connection per process, so one bus per test file.
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';
import { type SecretService, credentialEntry, seedStore, startSecretService, storeText } from './support.js';

const TOKEN_ACME = 'locked-keychain-access-token-acme-5555';

describe('a locked keychain', () => {
  let service: SecretService;
  let dir: string;
  let existing: string;
  before(async () => {
    service = await startSecretService();
    process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
    existing = await makeHome();
    await seedStore(existing, 'keychain', credentialEntry('acme', TOKEN_ACME));
    await service.lock();
    dir = await makeHome();
  });
  after(async () => {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(existing, { recursive: true, force: true });
  });

  test('reading a keychain store: exit 1 naming the reason, quickly; the file is untouched, and reset will not move it', async () => {
    const before = await storeText(existing);
    const token = await runCli(['token', 'acme'], { home: existing, env: service.env });
    assert.equal(token.code, 1);
    assert.match(
      token.stderr,
      /^error: Cannot read the key of the credential store .* in the OS keychain: it is locked \(unlock it, e\.g\. by logging in to the desktop, then try again\); nothing was changed\.\nFix that and try again/,
    );
    // Quickly: the keychain said it is locked; its time limit (which the message would name) did not run out.
    assert.doesNotMatch(token.stderr, /did not answer within/);
    const reset = await runCli(['store', 'reset'], { home: existing, env: service.env });
    assert.equal(reset.code, 1);
    assert.match(reset.stderr, /does not look damaged: Cannot read the key/);
    assert.equal(await storeText(existing), before);
  });

  test('explicit keychain fails closed with the reason, quickly, and writes nothing', async () => {
    const result = await runCli(['store', 'migrate', '--to', 'keychain'], { home: dir, env: service.env });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /Cannot save a new key for the credential store .* in the OS keychain: it is locked/);
    assert.doesNotMatch(result.stderr, /did not answer within/, 'quickly: told it is locked, not timed out');
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('credentials')),
      [],
    );
  });
});
