// The lock another tool takes around writing its credentials file, held by loginkit while it refreshes a
// sign-in linked to that file. Codex (from 0.169) takes `$CODEX_HOME/auth.json.lock` the way Rust's
// `File::lock` does: it opens the file (creating it, empty, if missing; never truncating or removing it)
// and takes an exclusive advisory `flock(2)` on it, which the kernel lets go when the holder closes the
// file or dies. Node has no flock of its own, so a small helper takes it on a descriptor loginkit opened
// and passes down: a flock belongs to the open file description, so it stays held, by loginkit, after the
// helper exits, until loginkit closes that descriptor. Windows' LockFileEx cannot be taken that way.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { StorageError } from '../errors.js';
import { errorCode } from '../shared/errno.js';

/** How long to wait for the tool to finish writing its file (it holds the lock for a write, not a refresh). */
const TOOL_LOCK_WAIT_MS = 10_000;

/** Helpers that take an exclusive flock on descriptor 3 and exit 0 once it is held, 1 after `seconds`. */
const LOCKERS: ReadonlyArray<(seconds: string) => readonly [string, string[]]> = [
  // util-linux, on every Linux.
  (seconds) => ['flock', ['--exclusive', '--wait', seconds, '3']],
  // Perl, on macOS and most other Unixes, where flock(1) is missing.
  (seconds) => [
    'perl',
    [
      '-MFcntl=:flock',
      '-e',
      'open(my $f, "+<&=3") or exit 2; $SIG{ALRM} = sub { exit 1 }; alarm shift; flock($f, LOCK_EX) or exit 2',
      seconds,
    ],
  ],
];

/**
 * Runs `task` holding the exclusive flock on `lockPath` that the tool takes around its writes, as well as
 * whatever lock the caller holds. Where no helper can take it (Windows, or neither flock nor perl), runs
 * `task` without it and says so through `onWarning`. Throws a StorageError when the tool holds it too long.
 */
export async function withToolLock<T>(lockPath: string, task: () => Promise<T>, onWarning: (message: string) => void): Promise<T> {
  if (process.platform === 'win32') return task();
  let handle: FileHandle;
  try {
    // Created as the tool creates it, but private: it is empty, and only its lock matters. Never through a link.
    handle = await open(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    // The tool's folder is gone with it: there is no one to share the lock with.
    if (errorCode(error) === 'ENOENT') return task();
    onWarning(`Could not open ${lockPath} (${(error as Error).message}); refreshing without the other tool's lock.`);
    return task();
  }
  try {
    if (!(await takeFlock(handle, lockPath))) onWarning(`Neither flock nor perl is installed: refreshing without the lock ${lockPath}.`);
    return await task();
  } finally {
    await handle.close();
  }
}

/** Takes the flock on `handle` with the first helper there is; false when there is none. */
async function takeFlock(handle: FileHandle, lockPath: string): Promise<boolean> {
  const seconds = String(TOOL_LOCK_WAIT_MS / 1000);
  for (const locker of LOCKERS) {
    const [command, args] = locker(seconds);
    const outcome = await runLocker(command, args, handle.fd);
    if (outcome === 'missing') continue;
    if (outcome === 0) return true;
    throw new StorageError(
      lockPath,
      outcome === 1
        ? `Another program has held ${lockPath} for over ${TOOL_LOCK_WAIT_MS / 1000} s; loginkit did not refresh. Try again once it has finished.`
        : `Could not take the lock ${lockPath} (${command} exited with ${outcome}).`,
    );
  }
  return false;
}

/** The helper's exit code, or `missing` when it is not installed. */
function runLocker(command: string, args: string[], fd: number): Promise<number | 'missing'> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'ignore', fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ENOENT' ? 'missing' : -1));
    child.once('exit', (code) => resolve(code ?? -1));
  });
}
