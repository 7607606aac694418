/** The `code` of a Node.js system error (`ENOENT`), or undefined for anything else. */
export function errorCode(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** A short human reason for a filesystem error (`EACCES: permission denied`), without a stack. */
export function describeFsError(error: unknown): string {
  if (error instanceof Error) {
    const code = errorCode(error);
    const reason = error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    return code ? `${code}: ${reason}` : reason;
  }
  return String(error);
}

/**
 * Names the errors that are about this machine, not the network: out of file descriptors (EMFILE for this
 * process, ENFILE for the whole system), which a connection flood or a leak causes.
 */
export function describeSystemError(code: 'EMFILE' | 'ENFILE'): string {
  return code === 'EMFILE'
    ? 'this process has too many open files (EMFILE). Close what holds them, or raise the limit (ulimit -n), and try again'
    : 'the system has too many open files (ENFILE). Close some programs and try again';
}
