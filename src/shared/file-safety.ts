import { type Stats, readlinkSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { StorageError } from '../errors.js';
import { describeFsError, errorCode } from './errno.js';

// Who may change what loginkit reads, as ssh checks ~/.ssh: the home folder must be the current user's and
// writable by no one else (or another user could swap the store, plant a symlink, or pre-create temporary
// files), and the credentials file must be the current user's and readable by no one else. Root is held to
// the same rule. Windows has no uid nor mode bits: there the folder's ACL (the profile's) does this job.

/** The owner and mode of a file, as `fs.stat` gives them with or without `bigint`. */
export interface OwnerAndMode {
  readonly uid: number | bigint;
  readonly mode: number | bigint;
}

/**
 * The StorageError for a filesystem call on `path` that failed: `doing` says what (`Cannot write <path>`).
 * A read-only file system is named as such, with where to keep the store instead.
 */
export function fsFailure(path: string, doing: string, error: unknown): StorageError {
  if (errorCode(error) === 'EROFS') {
    return new StorageError(
      path,
      `Cannot save to ${path}: it is on a read-only file system.\nSet LOGINKIT_HOME to a folder on a writable disk: export LOGINKIT_HOME=<folder>`,
      { cause: error },
    );
  }
  return new StorageError(path, `${doing}: ${describeFsError(error)}`, { cause: error });
}

/** `path` quoted for a POSIX shell, for the fix commands that errors print. */
export function shellQuote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

/** How many symlinks in a row {@link followLinks} follows, as Linux's ELOOP limit does for paths. */
const MAX_LINK_HOPS = 40;

/**
 * `path`, then each file its symlink leads to in turn (dotfile managers make such links): the last is the
 * file `path` stands for, which need not exist yet. Writes replace that one, so that a link stays a link,
 * as git does for a symlinked config.
 */
function followLinks(path: string): string[] {
  const chain = [path];
  for (let hops = 0; hops < MAX_LINK_HOPS; hops++) {
    const current = chain[chain.length - 1] as string;
    let link: string;
    try {
      link = readlinkSync(current);
    } catch (error) {
      // EINVAL: not a symlink; ENOENT: nothing there yet. Either way this is the file itself.
      if (errorCode(error) === 'EINVAL' || errorCode(error) === 'ENOENT') return chain;
      throw fsFailure(current, `Cannot read ${current}`, error);
    }
    chain.push(resolve(dirname(current), link));
  }
  throw new StorageError(
    path,
    `${path} is a symlink that loops, so loginkit cannot tell which file it stands for.\nFix: ls -l ${shellQuote(path)}, then point it at one file`,
  );
}

/**
 * The file that a write to `path` must replace: the end of its chain of symlinks (see {@link followLinks}),
 * once no link on the way sits in a folder that someone else could change (they could point it elsewhere).
 */
export function resolveWriteTarget(path: string): string {
  const chain = followLinks(path);
  assertSafeLinks(chain);
  return chain.at(-1) as string;
}

/** Checks the folder of every link in `chain`: all but its last entry, the file itself. */
function assertSafeLinks(chain: readonly string[]): void {
  for (const link of chain.slice(0, -1)) assertSafeFolder(dirname(link));
}

/**
 * Refuses to read the credentials file `path` (with `stats` of the file it stands for) unless the folders
 * of `path`, of every symlink on the way and of the file itself, and the file, pass the checks below.
 */
export function assertSafeToRead(path: string, stats: OwnerAndMode): void {
  const chain = followLinks(path);
  assertSafeLinks(chain);
  assertSafeFolder(dirname(chain.at(-1) as string));
  assertPrivateFile(path, stats);
}

/** Refuses a folder that belongs to another user or that others can write to (mode 0755 is fine). */
export function assertSafeFolder(dir: string): void {
  const uid = currentUid();
  if (uid === undefined) return;
  let stats: Stats;
  try {
    stats = statSync(dir);
  } catch (error) {
    throw fsFailure(dir, `Cannot read ${dir}`, error);
  }
  if (!stats.isDirectory()) throw new StorageError(dir, `${dir} is not a folder, so loginkit cannot keep credentials in it.`);
  if (Number(stats.uid) !== uid) {
    throw new StorageError(
      dir,
      `${dir} belongs to another user (uid ${stats.uid}), so loginkit will not use it.\nFix: ${asAdmin(uid)}chown -R ${userName(uid)} ${shellQuote(dir)}, or set LOGINKIT_HOME to a folder of your own`,
    );
  }
  if ((Number(stats.mode) & 0o022) !== 0) {
    throw new StorageError(
      dir,
      `${dir} can be changed by other users (mode ${(Number(stats.mode) & 0o777).toString(8)}), so loginkit will not use it.\nFix: chmod 700 ${shellQuote(dir)}`,
    );
  }
}

/**
 * Refuses a settings file (config.json) that belongs to another user or that others can change: it names
 * the servers that sign-ins and keys go to. Others may read it; it holds no secret.
 */
export function assertSafeSettingsFile(path: string, stats: OwnerAndMode): void {
  const uid = currentUid();
  if (uid === undefined) return;
  assertSafeFolder(dirname(path));
  if (Number(stats.uid) !== uid) {
    throw new StorageError(
      path,
      `${path} belongs to another user (uid ${stats.uid}), so loginkit will not use it.\nIf you wrote it under sudo: ${asAdmin(uid)}chown ${userName(uid)} ${shellQuote(path)}`,
    );
  }
  if ((Number(stats.mode) & 0o022) !== 0) {
    throw new StorageError(path, `${path} can be changed by other users, so loginkit will not use it.\nFix: chmod 600 ${shellQuote(path)}`);
  }
}

/** Refuses a credentials file that belongs to another user or that others can read. */
function assertPrivateFile(path: string, stats: OwnerAndMode): void {
  const uid = currentUid();
  if (uid === undefined) return;
  if (Number(stats.uid) !== uid) {
    throw new StorageError(
      path,
      `${path} belongs to another user (uid ${stats.uid}), so loginkit will not use it.\nIf you wrote it under sudo: ${asAdmin(uid)}chown ${userName(uid)} ${shellQuote(path)}; if not, remove it and sign in again`,
    );
  }
  if ((Number(stats.mode) & 0o077) !== 0) {
    throw new StorageError(path, `${path} can be read by other users, so loginkit will not use it.\nFix: chmod 600 ${shellQuote(path)}`);
  }
}

function currentUid(): number | undefined {
  return process.platform === 'win32' ? undefined : process.getuid?.();
}

function userName(uid: number): string {
  try {
    return userInfo().username;
  } catch {
    // A container user with no passwd entry has no name.
    return String(uid);
  }
}

/** Taking back a file from another user needs root. */
function asAdmin(uid: number): string {
  return uid === 0 ? '' : 'sudo ';
}
