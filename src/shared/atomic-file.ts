import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorCode } from './errno.js';
import { assertSafeFolder, fsFailure, resolveWriteTarget } from './file-safety.js';

// node:fs/promises is loaded on the first write: reading a store (`loginkit token`) never needs it.
const promises = (): Promise<typeof import('node:fs/promises')> => import('node:fs/promises');

/**
 * Creates `dir` (and parents) with mode 0700 when missing; an existing folder is left as it is, but must be
 * the current user's and writable by no one else (see {@link assertSafeFolder}).
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await makeDirs(dir);
  } catch (error) {
    throw fsFailure(dir, `Cannot create ${dir}`, error);
  }
  assertSafeFolder(dir);
}

/** `mkdir -p` one level at a time: Node's recursive mkdir reports ENOENT for EROFS and hides the reason. */
async function makeDirs(dir: string): Promise<void> {
  const fs = await promises();
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return;
    if (errorCode(error) !== 'ENOENT' || dirname(dir) === dir) throw error;
    await makeDirs(dirname(dir));
    await fs.mkdir(dir, { mode: 0o700 }).catch((again: unknown) => {
      if (errorCode(again) !== 'EEXIST') throw again;
    });
  }
}

let temporaryCounter = 0;

/**
 * Replaces `path` with `data` so that a crash at any moment leaves either the old file or the new one:
 * write a temporary file in the same folder (0600), fsync it, rename it over the target, fsync the folder.
 * A symlink stays a symlink: the file it points to is the one replaced, from a temporary file beside it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const target = resolveWriteTarget(path);
  const dir = dirname(target);
  await ensurePrivateDir(dir);
  // O_EXCL below makes a clash impossible to miss, so the name only needs to be unique per writer.
  const temporary = join(dir, `.${basename(target)}.${process.pid}.${Date.now()}.${++temporaryCounter}.tmp`);
  const fs = await promises();
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temporary, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temporary, { force: true }).catch(() => undefined);
    throw fsFailure(path, `Cannot write ${path}`, error);
  }
  await syncDir(dir);
}

/** Flushes a folder's entries to disk, so that a rename in it survives a crash (best effort). */
export async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable. Some platforms (Windows) cannot open a folder: nothing more to do there.
  const fs = await promises();
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
