import { randomBytes } from 'node:crypto';
import { ConfigError, StorageError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import { type KeySource, keyFingerprint, randomDataKey } from './encrypted-codec.js';
import { type KdfParams, canonicalBase64 } from './envelope.js';
import { KEYCHAIN_SERVICE, SCRYPT_COST } from './limits.js';
import { type PassphraseProvider, deriveKey } from './passphrase-key.js';
import { SHARED_SCHEMA_VERSION, type SharedMeta } from './shared-store.js';
import { childEnvironment } from '../shared/child-env.js';
import { type BoundedOutcome, runBoundedCommand } from '../shared/bounded-command.js';

// The data key of a shared store. Every machine of a fleet must hold the same key, so it is given rather
// than created per machine: LOGINKIT_DATA_KEY (base64 of 32 bytes), LOGINKIT_DATA_KEY_COMMAND (a command
// that prints it, e.g. from a secrets manager), an entry in this machine's OS keychain (saved there by
// `loginkit store init --keychain`), or a passphrase (LOGINKIT_PASSPHRASE or the prompt) from which it is
// derived with the store's one salt.

const DATA_KEY_BYTES = 32;
/** Bound on the key command: it must never hang a `loginkit token`. */
const KEY_COMMAND_TIMEOUT_MS = 10_000;
const KEY_COMMAND_MAX_OUTPUT = 4_096;

/** Where keys may come from. */
export interface SharedKeyOptions {
  readonly env: EnvVars;
  /** Asked when the store is passphrase-protected and LOGINKIT_PASSPHRASE is not set. */
  readonly askPassphrase?: PassphraseProvider | undefined;
  /** The store, as shown (password masked). */
  readonly location: string;
}

/** Where this machine found a shared store's data key, first to last. */
export type DataKeyOrigin = 'LOGINKIT_DATA_KEY' | 'LOGINKIT_DATA_KEY_COMMAND' | 'keychain';

/** A shared store's data key (the caller zeroes it), checked against the store's key id, and where it was found. */
export interface FoundKey {
  readonly key: Buffer;
  /** null for a passphrase-protected store (the key is derived, not found). */
  readonly origin: DataKeyOrigin | null;
}

/** A key source that also says where the key was found. */
export interface SharedKeySource extends KeySource {
  readonly origin: DataKeyOrigin | null;
}

/**
 * The OS keychain account (service KEYCHAIN_SERVICE) that holds a shared store's data key on this machine.
 * Named by the key's id, not the URL: one entry serves every URL of the same store, and a new key never
 * overwrites an old one.
 */
export function sharedKeychainAccount(keyId: string): string {
  return `shared-data-key#${keyId}`;
}

/** A data key (the caller zeroes it) with the meta record a new store would get for it. */
export interface ChosenKey {
  readonly key: Buffer;
  readonly meta: SharedMeta;
}

/** Whether a data key is given as such (variable or command), as opposed to a passphrase. */
export function hasGivenDataKey(env: EnvVars): boolean {
  return Boolean(env.LOGINKIT_DATA_KEY || env.LOGINKIT_DATA_KEY_COMMAND);
}

/**
 * The key source for a store described by `meta`: its key from where this machine was given it, checked
 * against the store's key id before anything is decrypted.
 */
export async function sharedKeySource(meta: SharedMeta, options: SharedKeyOptions): Promise<SharedKeySource> {
  const found = await findSharedKey(meta, options);
  return { ...sourceFor(found.key, meta, options.location), origin: found.origin };
}

/**
 * The store's key as this machine finds it: derived from the passphrase, or (data-key protection)
 * LOGINKIT_DATA_KEY, else LOGINKIT_DATA_KEY_COMMAND, else this machine's OS keychain. A key that is not
 * the store's (by its key id) is refused with a one-line error; nothing is read or written with it.
 */
export async function findSharedKey(meta: SharedMeta, options: SharedKeyOptions): Promise<FoundKey> {
  const found: FoundKey =
    meta.protection === 'passphrase' ? { key: await passphraseKey(meta, options), origin: null } : await givenDataKey(options, meta.keyId);
  if (keyFingerprint(found.key) !== meta.keyId) {
    found.key.fill(0);
    throw new StorageError(
      options.location,
      `${wrongKeyText(found.origin, meta.keyId)} for the shared store ${options.location} (its key id is ${meta.keyId}); nothing was read or written.\n${
        found.origin === 'keychain'
          ? "Save the right one over it: loginkit store init --keychain (with the store's key in LOGINKIT_DATA_KEY)"
          : 'Use the key the store was initialised with.'
      }`,
    );
  }
  return found;
}

function wrongKeyText(origin: DataKeyOrigin | null, keyId: string): string {
  if (origin === null) return 'Wrong passphrase';
  if (origin === 'keychain') {
    return `The data key in the OS keychain (service "${KEYCHAIN_SERVICE}", account "${sharedKeychainAccount(keyId)}") is not the key`;
  }
  return 'The data key given (LOGINKIT_DATA_KEY or its command) is not the key';
}

/** A KeySource that hands out copies of the store's one key and refuses records sealed with any other. */
function sourceFor(key: Buffer, meta: SharedMeta, location: string): KeySource {
  return {
    kind: meta.protection,
    async unlock(header, path) {
      if (header.keyId !== meta.keyId) {
        throw new StorageError(
          location,
          `${path} was encrypted with another data key (key id ${header.keyId}, the store's is ${meta.keyId}); nothing was changed.\nWrite it again from a machine with the store's key, or remove it.`,
        );
      }
      return Buffer.from(key);
    },
    async create() {
      return { key: Buffer.from(key), keyId: meta.keyId, ...(meta.kdf ? { kdf: meta.kdf } : {}) };
    },
  };
}

/**
 * The key and meta record for a new store: a freshly generated key when `generate`, else the key or
 * passphrase this machine was given. A ConfigError says how to give one when there is none.
 */
export async function keyForNewStore(options: SharedKeyOptions, generate: boolean): Promise<ChosenKey> {
  if (generate || hasGivenDataKey(options.env)) {
    const key = generate ? randomDataKey() : (await givenDataKey(options)).key;
    return { key, meta: { schemaVersion: SHARED_SCHEMA_VERSION, protection: 'data-key', keyId: keyFingerprint(key) } };
  }
  const kdf: KdfParams = { name: 'scrypt', ...SCRYPT_COST, salt: randomBytes(16).toString('base64') };
  const passphrase = await passphraseOf(options, 'create');
  if (passphrase === undefined) {
    throw new ConfigError(
      `The shared store ${options.location} needs a data key.\nMake one: loginkit store init --generate-key (then give it to every machine as LOGINKIT_DATA_KEY), or set LOGINKIT_PASSPHRASE.`,
    );
  }
  const key = await deriveKey(passphrase, Buffer.from(kdf.salt, 'base64'), kdf);
  return { key, meta: { schemaVersion: SHARED_SCHEMA_VERSION, protection: 'passphrase', keyId: keyFingerprint(key), kdf } };
}

/**
 * LOGINKIT_DATA_KEY, else the output of LOGINKIT_DATA_KEY_COMMAND: base64 of 32 bytes. For an existing
 * store (`keyId` known), else the entry this machine's OS keychain holds for that key id.
 */
async function givenDataKey(options: SharedKeyOptions, keyId?: string): Promise<FoundKey> {
  const { env } = options;
  if (env.LOGINKIT_DATA_KEY) return { key: parseDataKey(env.LOGINKIT_DATA_KEY, 'LOGINKIT_DATA_KEY'), origin: 'LOGINKIT_DATA_KEY' };
  if (env.LOGINKIT_DATA_KEY_COMMAND) {
    const printed = await runKeyCommand(env.LOGINKIT_DATA_KEY_COMMAND, env);
    return { key: parseDataKey(printed, 'The output of LOGINKIT_DATA_KEY_COMMAND'), origin: 'LOGINKIT_DATA_KEY_COMMAND' };
  }
  let keychain = '';
  if (keyId !== undefined) {
    // Loaded only here: a machine given its key by variable or command never loads the keychain's code.
    const { readKeychainSecret, keychainFailureReason } = await import('./keychain-key.js');
    try {
      const key = await readKeychainSecret(sharedKeychainAccount(keyId));
      if (key) return { key, origin: 'keychain' };
      keychain = ', nor is it in the OS keychain';
    } catch (error) {
      keychain = `, and the OS keychain cannot be used (${keychainFailureReason(error)})`;
    }
  }
  throw new ConfigError(
    `The shared store ${options.location} is encrypted with a data key, and none was given${keychain}.\nSet LOGINKIT_DATA_KEY (base64 of the 32-byte key) or LOGINKIT_DATA_KEY_COMMAND (a command that prints it), or save the key in this machine's keychain: loginkit store init --keychain`,
  );
}

/**
 * Saves a shared store's data key in this machine's OS keychain (account {@link sharedKeychainAccount}),
 * then reads it back. Idempotent: resolves false when the entry already held this key. A keychain that
 * cannot be used is a ConfigError naming the reason and the alternatives.
 */
export async function saveKeyInKeychain(key: Buffer, keyId: string, location: string): Promise<boolean> {
  const { readKeychainSecret, writeKeychainSecret, keychainFailureReason } = await import('./keychain-key.js');
  const account = sharedKeychainAccount(keyId);
  try {
    const present = await readKeychainSecret(account);
    const same = present?.equals(key) ?? false;
    present?.fill(0);
    if (same) return false;
    await writeKeychainSecret(account, key);
    const back = await readKeychainSecret(account);
    const kept = back?.equals(key) ?? false;
    back?.fill(0);
    if (!kept) throw new Error('it did not return what was written to it');
    return true;
  } catch (error) {
    throw new ConfigError(
      `Cannot save the data key of the shared store ${location} in the OS keychain: ${keychainFailureReason(error)}; nothing was changed.\nRun it where the keychain works (a desktop session, or dbus-run-session with a keyring), or give this machine the key as LOGINKIT_DATA_KEY or LOGINKIT_DATA_KEY_COMMAND instead.`,
      { cause: error },
    );
  }
}

/** Removes a data key this machine's keychain holds for `keyId` (a key saved for a store that was not created after all). */
export async function forgetKeyInKeychain(keyId: string): Promise<void> {
  const { deleteKeychainSecret } = await import('./keychain-key.js');
  await deleteKeychainSecret(sharedKeychainAccount(keyId));
}

/** Decodes a data key; the message never repeats the value. */
export function parseDataKey(text: string, what: string): Buffer {
  const key = canonicalBase64(text.trim(), DATA_KEY_BYTES);
  if (!key) throw new ConfigError(`${what} is not the base64 of 32 bytes.\nMake a key: loginkit store init --generate-key`);
  return key;
}

async function passphraseKey(meta: SharedMeta, options: SharedKeyOptions): Promise<Buffer> {
  const passphrase = await passphraseOf(options, 'unlock');
  if (passphrase === undefined || !meta.kdf) {
    throw new ConfigError(
      `The shared store ${options.location} is encrypted with a passphrase, and none was given.\nSet LOGINKIT_PASSPHRASE, or run in a terminal to be asked for it.`,
    );
  }
  return deriveKey(passphrase, Buffer.from(meta.kdf.salt, 'base64'), meta.kdf);
}

async function passphraseOf(options: SharedKeyOptions, purpose: 'unlock' | 'create'): Promise<string | undefined> {
  const given = options.env.LOGINKIT_PASSPHRASE ?? (await options.askPassphrase?.({ path: options.location, purpose }));
  if (given === '') throw new ConfigError('The passphrase is empty.\nSet LOGINKIT_PASSPHRASE to a non-empty passphrase.');
  return given;
}

/**
 * Runs the key command through the shell without the variables that unlock stores (see childEnvironment),
 * in a process group of its own, bounded in time and output.
 */
async function runKeyCommand(command: string, env: EnvVars): Promise<string> {
  const outcome = await runBoundedCommand(['/bin/sh', '-c', command], {
    env: childEnvironment(env),
    timeoutMs: KEY_COMMAND_TIMEOUT_MS,
    maxOutputBytes: KEY_COMMAND_MAX_OUTPUT,
  });
  if (outcome.kind === 'ok') return outcome.stdout.toString('utf8');
  throw new ConfigError(
    `LOGINKIT_DATA_KEY_COMMAND ${dataKeyCommandFailure(outcome)}.\nCheck the command; it must print the base64 data key on stdout.`,
  );
}

function dataKeyCommandFailure(outcome: Exclude<BoundedOutcome, { kind: 'ok' }>): string {
  switch (outcome.kind) {
    case 'timeout':
      return `did not finish within ${KEY_COMMAND_TIMEOUT_MS / 1000} s`;
    case 'too_large':
      return `printed more than ${KEY_COMMAND_MAX_OUTPUT} bytes`;
    case 'not_found':
      return 'could not be started (/bin/sh not found)';
    case 'failed':
      return `failed (exit ${String(outcome.status)})`;
  }
}
