import { join } from 'node:path';
import { StorageError } from '../errors.js';
import { describeFsError, ensurePrivateDir } from '../shared/atomic-file.js';

/** How long a lock may go without its holder's heartbeat before another process may take it over. */
const STALE_AFTER_MS = 10_000;
/** Upper bound on waiting for a lock that someone else holds. */
const WAIT_LIMIT_MS = 60_000;

/**
 * Runs `task` while holding the lock folder `<dir>/<name>.lock`, shared across processes. A holder that
 * died (SIGKILL) stops refreshing the lock's timestamp, and the lock is taken over once it is stale.
 * Waiters poll every few milliseconds so that they wake soon after the holder lets go.
 */
export async function withFileLock<T>(dir: string, name: string, task: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(dir);
  const target = join(dir, encodeURIComponent(name));
  const { lock } = await import('proper-lockfile');
  let release: () => Promise<void>;
  try {
    release = await lock(target, {
      realpath: false,
      lockfilePath: `${target}.lock`,
      stale: STALE_AFTER_MS,
      update: STALE_AFTER_MS / 4,
      retries: { retries: Math.ceil(WAIT_LIMIT_MS / 15), factor: 1.15, minTimeout: 4, maxTimeout: 15, randomize: true },
      onCompromised: () => undefined,
    });
  } catch (error) {
    throw new StorageError(
      `${target}.lock`,
      `Could not take the lock ${target}.lock: ${describeFsError(error)}. If no loginkit process is running, remove that folder.`,
      { cause: error },
    );
  }
  try {
    return await task();
  } finally {
    await release().catch(() => undefined);
  }
}
