// Hostile neighbours: a home folder that other users can write to, or that belongs to someone else, and a
// credentials file that belongs to someone else, are refused as ssh refuses such a ~/.ssh (real chmod and
// chown; the tests run as root, which owns the homes, so another user is a numeric uid).
import assert from 'node:assert/strict';
import { chmod, chown, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { inspectStore, migrateStore, resetStore } from '../../src/store/admin.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome } from '../helpers/cli.js';
import { credentialEntry } from './support.js';

const OTHER_UID = 4242;

/** Asserts that `promise` fails with a StorageError whose message matches `pattern`. */
async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

describe('ownership and permissions of the home folder and the credentials file', () => {
  let home: string;
  let path: string;
  let original: string;
  beforeEach(async () => {
    home = await makeHome();
    path = join(home, 'credentials.json');
    await createFileStore(path, plaintextCodec).update(() => credentialEntry('acme', 'ownership-token'));
    original = await readFile(path, 'utf8');
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  /** Reading and writing through a fresh store (as a new process would) both fail; the file is unchanged. */
  async function assertRefused(pattern: RegExp): Promise<void> {
    const store = createFileStore(path, plaintextCodec);
    await refused(store.read(), pattern);
    await refused(
      store.update((entries) => ({ ...entries, ...credentialEntry('zeta', 'planted') })),
      pattern,
    );
    assert.equal(await readFile(path, 'utf8'), original, 'nothing was written');
  }

  for (const mode of [0o770, 0o775, 0o707, 0o777, 0o1777]) {
    test(`home folder writable by others (mode ${mode.toString(8)}): refused for reading and writing, with the chmod that fixes it`, async () => {
      await chmod(home, mode);
      await assertRefused(
        new RegExp(
          `^${escape(home)} can be changed by other users \\(mode ${(mode & 0o777).toString(8)}\\), so loginkit will not use it\\.\nFix: chmod 700 '${escape(home)}'$`,
        ),
      );
    });
  }

  test('home folder owned by another user: refused for reading and writing, with the chown that fixes it', async () => {
    await chown(home, OTHER_UID, OTHER_UID);
    await assertRefused(
      new RegExp(
        `^${escape(home)} belongs to another user \\(uid ${OTHER_UID}\\), so loginkit will not use it\\.\nFix: chown -R root '${escape(home)}', or set LOGINKIT_HOME to a folder of your own$`,
      ),
    );
  });

  test('credentials file owned by another user: refused for reading and writing, with the chown that fixes it', async () => {
    await chown(path, OTHER_UID, OTHER_UID);
    await assertRefused(
      new RegExp(
        `^${escape(path)} belongs to another user \\(uid ${OTHER_UID}\\), so loginkit will not use it\\.\nIf you wrote it under sudo: chown root '${escape(path)}'; if not, remove it and sign in again$`,
      ),
    );
  });

  test('credentials file owned by another user: store status, migrate and reset refuse it too', async () => {
    await chown(path, OTHER_UID, OTHER_UID);
    const options = { path, env: {} };
    for (const run of [
      () => inspectStore(options),
      () => migrateStore(options, 'passphrase'),
      () => resetStore(options, { force: true }),
    ]) {
      await refused(run(), /belongs to another user \(uid 4242\)/);
    }
    assert.equal(await readFile(path, 'utf8'), original);
    assert.deepEqual(
      (await readdir(home)).filter((name) => name.startsWith('credentials')),
      ['credentials.json'],
    );
  });

  test('a home folder writable by others is refused before the first credential is saved: nothing is created in it', async () => {
    const empty = await makeHome();
    try {
      await chmod(empty, 0o777);
      await refused(
        createFileStore(join(empty, 'credentials.json'), plaintextCodec).update(() => credentialEntry('acme', 't')),
        /can be changed by other users/,
      );
      assert.deepEqual(await readdir(empty), []);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test('a home folder that others may read but not write (0755), owned by you, is used as ssh uses such a ~/.ssh', async () => {
    await chmod(home, 0o755);
    const store = createFileStore(path, plaintextCodec);
    assert.ok((await store.read())['acme/default']);
    await store.update((entries) => ({ ...entries, ...credentialEntry('zeta', 'z') }));
    assert.ok((await createFileStore(path, plaintextCodec).read())['zeta/default']);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
