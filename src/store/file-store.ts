import { type BigIntStats, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StorageError } from '../errors.js';
import { describeFsError, writeFileAtomic } from './atomic-file.js';
import type { Codec } from './codec.js';
import type { Entries, EntryStore } from './entry-store.js';
import { withFileLock } from './locks.js';

/**
 * How long a read may trust that the file is unchanged without a stat. A stat costs microseconds, which
 * would cap a hot `getToken()` loop; another process's change is noticed within this time, and every
 * decision taken under a lock (refresh, update) checks the file itself.
 */
const RECHECK_AFTER_MS = 25;

/** The lock every writer of a store file holds: updates, migration, reset. */
export const WRITE_LOCK = 'store-write';

/**
 * Entries kept in one file (0600 in a 0700 folder), encoded by `codec`. Reads are served from memory
 * while the file's identity (inode, size, mtime, ctime) is unchanged, so a hot `getToken()` costs at most
 * one stat and no read; every write replaces the file atomically under a cross-process lock.
 */
export function createFileStore(path: string, codec: Codec): EntryStore {
  const lockDir = join(dirname(path), 'locks');
  let cache: { identity: string; entries: Entries; bytes: Uint8Array } | undefined;
  const cachedBytes = (): Uint8Array | undefined => cache?.bytes;

  let checkedAt = Number.NEGATIVE_INFINITY;
  const load = async (options: { fresh?: boolean } = {}): Promise<Entries> => {
    const now = Date.now();
    if (cache && !options.fresh && now - checkedAt < RECHECK_AFTER_MS) return cache.entries;
    checkedAt = now;
    const stats = statOrUndefined(path);
    if (!stats) {
      cache = undefined;
      return {};
    }
    const identity = identityOf(stats);
    if (cache?.identity === identity) return cache.entries;
    assertPrivate(path, stats);
    let bytes: Uint8Array;
    try {
      // Synchronous on purpose: the file is small, and this is the `loginkit token` start-up path.
      bytes = readFileSync(path);
    } catch (error) {
      throw new StorageError(path, `Cannot read ${path}: ${describeFsError(error)}`, { cause: error });
    }
    const entries = Object.freeze(await codec.decode(bytes, path));
    cache = { identity, entries, bytes };
    return entries;
  };

  return {
    // A getter: a codec that follows the file (see select-store.ts) learns its protection on the first read.
    get info() {
      // Lazy too: asking where the store is must not read the file to learn how it is protected.
      return {
        get backend() {
          return codec.backend;
        },
        get protection() {
          return codec.protection;
        },
        location: path,
      };
    },
    read: load,
    update: (change) =>
      withFileLock(lockDir, WRITE_LOCK, async () => {
        cache = undefined;
        removeOrphanedTemporaries(path);
        const current = await load({ fresh: true });
        const next = change(current);
        if (next === undefined) return current;
        const bytes = await codec.encode(next, { path, current: cachedBytes() });
        await writeFileAtomic(path, bytes);
        const stats = statOrUndefined(path);
        cache = stats ? { identity: identityOf(stats), entries: Object.freeze({ ...next }), bytes } : undefined;
        return next;
      }),
    withLock: (name, task) => withFileLock(lockDir, name, task),
  };
}

/**
 * Temporary files left by writers that were killed mid-write hold credentials: under the write lock,
 * remove those whose writer process is gone (provably stale; a live writer's file is left alone).
 */
function removeOrphanedTemporaries(path: string): void {
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || isRunning(pid)) continue;
    rmSync(join(dirname(path), name), { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function statOrUndefined(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(path, `Cannot read ${path}: ${describeFsError(error)}`, { cause: error });
  }
}

function identityOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

function assertPrivate(path: string, stats: BigIntStats): void {
  if (process.platform === 'win32') return;
  if ((Number(stats.mode) & 0o077) !== 0) {
    throw new StorageError(path, `${path} can be read by other users, so loginkit will not use it.\nFix: chmod 600 '${path}'`);
  }
}
