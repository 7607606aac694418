import { urlSecrets } from '../shared/mask.js';
import { NetworkError, StorageError } from '../errors.js';

/** Error codes of Node's sockets and resolver that mean "the database cannot be reached right now". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/** What identifies a shared store in messages: its URL with the password masked, and its host. */
export interface SharedTarget {
  readonly location: string;
  readonly host: string;
  /** The passwords in the URL (see urlSecrets), removed from any text before it is shown (drivers never print them, but be sure). */
  readonly secrets: readonly string[];
  /** Bound on connecting and on each query (see SHARED_STORE_TIMEOUT_MS). */
  readonly timeoutMs: number;
}

/** The error for a database that cannot be reached: transient (a cached token may still be served). */
export function unreachable(target: SharedTarget, reason: string, timedOut = false): NetworkError {
  return new NetworkError(
    timedOut ? 'timeout' : 'network',
    target.host,
    `The shared store ${target.location} cannot be reached (${scrub(reason, target)}).\nCheck that the database is running and reachable from this machine; nothing was changed.`,
  );
}

/** The error for a sign-in the database refused. */
export function refusedSignIn(target: SharedTarget, variable?: string): StorageError {
  const also = variable ? `, or ${variable}` : '';
  return new StorageError(
    target.location,
    `The shared store ${target.location} refused the user name or password; nothing was changed.\nCheck the credentials in LOGINKIT_STORE (or config.json "store"${also}).`,
  );
}

/** Any other database failure, with its message cleaned of the password and control characters. */
export function databaseFailure(target: SharedTarget, what: string, reason: string): StorageError {
  return new StorageError(target.location, `${what} failed on the shared store ${target.location}: ${scrub(reason, target)}`);
}

/** Whether an error from a socket says the peer cannot be reached. */
export function isUnreachableCode(code: unknown): boolean {
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

/** `text` on one line, without the password or control characters. */
export function scrub(text: string, target: SharedTarget): string {
  let clean = text;
  for (const secret of target.secrets) {
    clean = clean.split(secret).join('***');
    clean = clean.split(encodeURIComponent(secret)).join('***');
  }
  return clean.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
}

/** The target of a URL: masked location, host (for NetworkError) and the passwords to keep out of text. */
export function targetOf(url: URL, location: string, timeoutMs: number): SharedTarget {
  return { location, host: url.hostname || 'localhost', secrets: urlSecrets(url.href), timeoutMs };
}
