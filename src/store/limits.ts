// Settings of the encrypted backends that the public API shows, kept apart from the modules that load
// node:crypto and the keychain's native code, so that importing the API loads neither.

/** The keychain service under which loginkit keeps its data keys. */
export const KEYCHAIN_SERVICE = 'loginkit';
/** Upper bound on any keychain operation: a locked or absent keychain must never hang a command. */
export const KEYCHAIN_TIMEOUT_MS = 2_000;
/** scrypt cost for new stores: N=2^15, r=8, p=1 (32 MiB, about 0.1 s); the envelope records it per file. */
export const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
