import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StorageError } from '../errors.js';

// node:fs/promises is loaded on the first write: reading a store (`loginkit token`) never needs it.
const promises = (): Promise<typeof import('node:fs/promises')> => import('node:fs/promises');

/** Creates `dir` (and parents) with mode 0700 when missing; an existing folder is left as it is. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const fs = await promises();
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StorageError(dir, `Cannot create ${dir}: ${describeFsError(error)}`, { cause: error });
  }
}

let temporaryCounter = 0;

/**
 * Replaces `path` with `data` so that a crash at any moment leaves either the old file or the new one:
 * write a temporary file in the same folder (0600), fsync it, rename it over the target, fsync the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  // O_EXCL below makes a clash impossible to miss, so the name only needs to be unique per writer.
  const temporary = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${++temporaryCounter}.tmp`);
  const fs = await promises();
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temporary, { force: true }).catch(() => undefined);
    throw new StorageError(path, `Cannot write ${path}: ${describeFsError(error)}`, { cause: error });
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

/** A short human reason for a filesystem error (`EACCES: permission denied`), without a stack. */
export function describeFsError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    return code ? `${code}: ${reason}` : reason;
  }
  return String(error);
}
