// Settings of the store that the public API and the README show, kept apart from the modules that load
// node:crypto and the keychain's native code, so that importing the API loads neither.

/** The keychain service under which loginkit keeps its data keys. */
export const KEYCHAIN_SERVICE = 'loginkit';
/** Upper bound on any keychain operation: a locked or absent keychain must never hang a command. */
export const KEYCHAIN_TIMEOUT_MS = 2_000;
/** scrypt cost for new stores: N=2^15, r=8, p=1 (32 MiB, about 0.1 s); the envelope records it per file. */
export const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
/**
 * The scrypt costs a store file may ask for; anything else is refused before a key is derived. The file's
 * header is read before it is authenticated, so a tampered N, r or p must not make loginkit spend gigabytes
 * and minutes: this allows the cost loginkit writes, half of it, and up to four times it (128 MiB, ~1 s).
 */
export const SCRYPT_ACCEPTED = { minLog2N: 14, maxLog2N: 17, r: 8, p: 1 } as const;
/** How long a lock may go without its holder's heartbeat before another process may take it over. */
export const LOCK_STALE_AFTER_MS = 10_000;
/** How long a writer waits for a lock that a live process holds, by the clock, before it gives up. */
export const LOCK_WAIT_LIMIT_MS = 60_000;
/**
 * Bound on connecting to a shared store (PostgreSQL, Redis) and on each of its queries: an unreachable
 * database gives a clear error within this time rather than a hang.
 */
export const SHARED_STORE_TIMEOUT_MS = 10_000;
/**
 * How long a shared store may serve entries from this process's memory before it asks the database again
 * (a hot `getToken()` makes no round trip). Decisions taken under a lock always read the database.
 */
export const SHARED_STORE_REVALIDATE_MS = 2_000;
