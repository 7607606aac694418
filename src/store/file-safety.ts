import { StorageError } from '../errors.js';

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

/** The `code` of a Node.js system error (`ENOENT`), or undefined. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
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

/** `path` quoted for a POSIX shell, for the fix commands that errors print. */
export function shellQuote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}
