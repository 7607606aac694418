// A credentials.json (or config.json) that is a symlink, as dotfile managers (stow, chezmoi, home-manager)
// make them: writes go through to the link's target, atomically, beside it, as git does for a symlinked
// config; the target's folder is held to the same checks as the home.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { migrateStore } from '../../src/store/admin.js';
import { writeFileAtomic } from '../../src/shared/atomic-file.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome } from '../helpers/cli.js';
import { credentialEntry } from './support.js';

describe('a symlinked credentials.json', () => {
  let root: string;
  let home: string;
  let dotfiles: string;
  let link: string;
  let target: string;
  beforeEach(async () => {
    root = await makeHome();
    home = join(root, 'home');
    dotfiles = join(root, 'dotfiles');
    await mkdir(home, { mode: 0o700 });
    await mkdir(dotfiles, { mode: 0o700 });
    link = join(home, 'credentials.json');
    target = join(dotfiles, 'loginkit-credentials.json');
    // Relative, as stow makes them.
    await symlink('../dotfiles/loginkit-credentials.json', link);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** The link is still the same link, and neither folder holds a temporary file. */
  async function assertLinkKept(): Promise<void> {
    assert.ok((await lstat(link)).isSymbolicLink(), 'credentials.json is still a symlink');
    assert.equal(await readlink(link), '../dotfiles/loginkit-credentials.json');
    assert.deepEqual(
      (await readdir(home)).filter((name) => name !== 'locks'),
      ['credentials.json'],
    );
    assert.deepEqual(await readdir(dotfiles), ['loginkit-credentials.json'], 'no temporary file beside the target');
    assert.equal((await stat(target)).mode & 0o777, 0o600);
  }

  test('a symlinked credentials.json stays a symlink: every write lands atomically in its target', async () => {
    const store = createFileStore(link, plaintextCodec);
    await store.update(() => credentialEntry('acme', 'first'));
    await assertLinkKept();
    await store.update((entries) => ({ ...entries, ...credentialEntry('zeta', 'second') }));
    await assertLinkKept();
    const stored = JSON.parse(await readFile(target, 'utf8')) as { entries: Record<string, unknown> };
    assert.deepEqual(Object.keys(stored.entries).sort(), ['acme/default', 'zeta/default']);
    assert.deepEqual(Object.keys(await createFileStore(link, plaintextCodec).read()).sort(), ['acme/default', 'zeta/default']);
  });

  test('a symlinked credentials.json stays a symlink through store migrate', async () => {
    await createFileStore(link, plaintextCodec).update(() => credentialEntry('acme', 'migrated'));
    const options = { path: link, env: { LOGINKIT_PASSPHRASE: 'correct horse battery staple' } };
    const result = await migrateStore(options, 'passphrase');
    assert.equal(result.changed, true);
    await assertLinkKept();
    assert.match(await readFile(target, 'utf8'), /"protection":"passphrase"/);
  });

  test('a symlinked credentials.json whose target is in a folder others can write to is refused, for reading and writing', async () => {
    await createFileStore(link, plaintextCodec).update(() => credentialEntry('acme', 'shared'));
    await chmod(dotfiles, 0o777);
    const store = createFileStore(link, plaintextCodec);
    const pattern = new RegExp(
      `^${dotfiles} can be changed by other users \\(mode 777\\), so loginkit will not use it\\.\nFix: chmod 700 '${dotfiles}'$`,
    );
    for (const attempt of [() => store.read(), () => store.update(() => credentialEntry('zeta', 'planted'))]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.match(error.message, pattern);
        return true;
      });
    }
    assert.ok((await lstat(link)).isSymbolicLink());
  });

  test('a symlinked credentials.json whose chain of links passes through a folder others can write to is refused', async () => {
    // home/credentials.json -> shared/hop -> dotfiles/loginkit-credentials.json: whoever can write in
    // shared/ can point hop anywhere.
    const shared = join(root, 'shared');
    await mkdir(shared, { mode: 0o700 });
    await symlink(target, join(shared, 'hop'));
    await rm(link);
    await symlink(join(shared, 'hop'), link);
    const store = createFileStore(link, plaintextCodec);
    await store.update(() => credentialEntry('acme', 'chained'));
    assert.ok((await lstat(join(shared, 'hop'))).isSymbolicLink(), 'a safe chain is followed to its end');
    await chmod(shared, 0o777);
    for (const attempt of [
      () => createFileStore(link, plaintextCodec).read(),
      () => store.update(() => credentialEntry('zeta', 'planted')),
    ]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.match(error.message, /shared can be changed by other users \(mode 777\)/);
        return true;
      });
    }
  });

  test('a credentials.json symlink that loops is refused, naming it', async () => {
    await rm(link);
    await symlink('credentials.json', link);
    for (const attempt of [
      () => createFileStore(link, plaintextCodec).read(),
      () => createFileStore(link, plaintextCodec).update(() => credentialEntry('acme', 'x')),
    ]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.ok(error.message.includes(link), error.message);
        assert.match(error.message, /loops|ELOOP/);
        return true;
      });
    }
  });

  test('a symlinked config.json stays a symlink when loginkit rewrites it', async () => {
    const configLink = join(home, 'config.json');
    const configTarget = join(dotfiles, 'loginkit-config.json');
    await symlink(configTarget, configLink);
    await writeFileAtomic(configLink, '{"store":"file"}\n');
    assert.ok((await lstat(configLink)).isSymbolicLink());
    assert.equal(await readFile(configTarget, 'utf8'), '{"store":"file"}\n');
  });
});
