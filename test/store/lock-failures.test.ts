// What a writer says when it cannot take the store's lock: a lock that another process holds and never lets
// go, and a home on a read-only file system (a real tmpfs remounted read-only).
import assert from 'node:assert/strict';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { createFileStore } from '../../src/store/file-store.js';
import { LOCK_WAIT_LIMIT_MS } from '../../src/store/limits.js';
import { withFileLock } from '../../src/store/locks.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome } from '../helpers/cli.js';
import { mountTmpfs } from '../helpers/tmpfs.js';
import { credentialEntry } from './support.js';

describe('a lock held forever', () => {
  test('a lock held forever fails when the wait limit has passed on the clock, as the README says (60 s), not after a count of retries', async () => {
    assert.equal(LOCK_WAIT_LIMIT_MS, 60_000, 'the README says 60 s');
    const dir = await makeHome();
    let letGo = (): void => undefined;
    let holding = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    // A live holder: proper-lockfile keeps refreshing its lock, so it is never stale.
    const holder = withFileLock(dir, 'store-write', async () => {
      holding();
      await new Promise<void>((resolve) => {
        letGo = resolve;
      });
    });
    try {
      await held;
      // Every look at the clock finds one more second gone: 60 s pass in about 60 attempts.
      const start = Date.now();
      let seconds = 0;
      let last = start;
      const now = (): number => {
        last = start + 1_000 * seconds++;
        return last;
      };
      let ran = false;
      await assert.rejects(
        withFileLock(
          dir,
          'store-write',
          async () => {
            ran = true;
          },
          { now },
        ),
        (error: unknown) => {
          assert.ok(error instanceof StorageError, String(error));
          assert.match(
            error.message,
            /^Another loginkit process has held the lock .*store-write\.lock for over 60 s\.\nIf none is running, remove it: rm -r '.*store-write\.lock'$/,
          );
          return true;
        },
      );
      assert.equal(ran, false);
      assert.ok(last - start >= LOCK_WAIT_LIMIT_MS, `did not give up early (${last - start} ms on the clock)`);
      assert.ok(last - start <= LOCK_WAIT_LIMIT_MS + 1_000, `gave up at the first look past the limit (${last - start} ms on the clock)`);
    } finally {
      letGo();
      await holder;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a home on a read-only file system', () => {
  const READ_ONLY =
    /^Cannot save to .*: it is on a read-only file system\.\nSet LOGINKIT_HOME to a folder on a writable disk: export LOGINKIT_HOME=<folder>$/;

  test('read-only file system (EROFS): says so and what to do, not "remove that folder"; reading still works', async () => {
    const mount = await mountTmpfs('1m');
    try {
      const home = join(mount.dir, 'home');
      await mkdir(home, { mode: 0o700 });
      const path = join(home, 'credentials.json');
      await createFileStore(path, plaintextCodec).update(() => credentialEntry('acme', 'read-only-token'));
      mount.readOnly();

      const store = createFileStore(path, plaintextCodec);
      assert.deepEqual(Object.keys(await store.read()), Object.keys(credentialEntry('acme', 'x')), 'reading takes no lock');
      await assert.rejects(
        store.update((entries) => ({ ...entries, ...credentialEntry('zeta', 'new') })),
        (error: unknown) => {
          assert.ok(error instanceof StorageError, String(error));
          assert.doesNotMatch(error.message, /remove that folder|remove it/);
          assert.match(error.message, READ_ONLY);
          assert.ok(error.message.includes(home), error.message);
          return true;
        },
      );
    } finally {
      await mount.dispose();
    }
  });

  test('read-only file system, no store yet: the first save says so too', async () => {
    const mount = await mountTmpfs('1m');
    try {
      const home = join(mount.dir, 'home');
      await mkdir(home, { mode: 0o700 });
      mount.readOnly();
      const store = createFileStore(join(home, 'credentials.json'), plaintextCodec);
      await assert.rejects(
        store.update(() => credentialEntry('acme', 'token')),
        (error: unknown) => {
          assert.ok(error instanceof StorageError, String(error));
          assert.match(error.message, READ_ONLY);
          return true;
        },
      );
      assert.deepEqual(await readdir(home), []);
    } finally {
      await mount.dispose();
    }
  });
});
