import { join } from 'node:path';
import { StorageError } from '../errors.js';
import { ensurePrivateDir } from '../shared/atomic-file.js';
import { fsFailure, shellQuote } from '../shared/file-safety.js';
import { LOCK_STALE_AFTER_MS, LOCK_WAIT_LIMIT_MS } from './limits.js';
import { errorCode } from '../shared/errno.js';

/** Waiters poll every few milliseconds, so that they wake soon after the holder lets go. */
const FIRST_POLL_MS = 4;
const LAST_POLL_MS = 15;

/** How {@link withFileLock} waits; tests pass a clock that runs faster. */
export interface LockWaitOptions {
  /** The clock the wait limit is measured on. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Runs `task` while holding the lock folder `<dir>/<name>.lock`, shared across processes. A holder that
 * died (SIGKILL) stops refreshing the lock's timestamp, and the lock is taken over once it is stale; a live
 * holder is waited for up to {@link LOCK_WAIT_LIMIT_MS}. Any other failure (a read-only disk) ends at once.
 */
export async function withFileLock<T>(dir: string, name: string, task: () => Promise<T>, options: LockWaitOptions = {}): Promise<T> {
  await ensurePrivateDir(dir);
  const release = await acquireLock(join(dir, encodeURIComponent(name)), options.now ?? Date.now);
  try {
    return await task();
  } finally {
    await release().catch(() => undefined);
  }
}

/** Takes the lock of `target`, polling while it is held, until the wait limit has passed on `now`. */
async function acquireLock(target: string, now: () => number): Promise<() => Promise<void>> {
  const { lock } = await import('proper-lockfile');
  const lockPath = `${target}.lock`;
  // The limit is measured on the clock rather than by counting retries: each attempt costs a few syscalls
  // as well as the pause, and a count of 15 ms pauses once came to 83 s instead of 60.
  const deadline = now() + LOCK_WAIT_LIMIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await lock(target, {
        realpath: false,
        lockfilePath: lockPath,
        stale: LOCK_STALE_AFTER_MS,
        update: LOCK_STALE_AFTER_MS / 4,
        retries: 0,
        onCompromised: () => undefined,
      });
    } catch (error) {
      if (errorCode(error) !== 'ELOCKED') throw fsFailure(lockPath, `Could not take the lock ${lockPath}`, error);
      if (now() >= deadline) throw heldTooLong(lockPath, error);
    }
    await pause(pollDelay(attempt));
  }
}

/** 4 ms growing to 15 ms, with jitter so that waiters do not move in step. */
function pollDelay(attempt: number): number {
  return Math.min(LAST_POLL_MS, FIRST_POLL_MS * 1.15 ** attempt * (1 + Math.random()));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function heldTooLong(lockPath: string, cause: unknown): StorageError {
  return new StorageError(
    lockPath,
    `Another loginkit process has held the lock ${lockPath} for over ${LOCK_WAIT_LIMIT_MS / 1_000} s.\nIf none is running, remove it: rm -r ${shellQuote(lockPath)}`,
    { cause },
  );
}
