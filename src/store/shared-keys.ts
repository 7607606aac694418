import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ConfigError, StorageError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import { type KeySource, keyFingerprint, randomDataKey } from './encrypted-codec.js';
import { type KdfParams, canonicalBase64 } from './envelope.js';
import { SCRYPT_COST } from './limits.js';
import { type PassphraseProvider, deriveKey } from './passphrase-key.js';
import type { SharedMeta } from './shared-store.js';
import { childEnvironment } from '../shared/child-env.js';

// The data key of a shared store. Every machine of a fleet must hold the same key, so it is given rather
// than created per machine: LOGINKIT_DATA_KEY (base64 of 32 bytes), LOGINKIT_DATA_KEY_COMMAND (a command
// that prints it, e.g. from a secrets manager), or a passphrase (LOGINKIT_PASSPHRASE or the prompt) from
// which it is derived with the store's one salt.

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
export async function sharedKeySource(meta: SharedMeta, options: SharedKeyOptions): Promise<KeySource> {
  const key = meta.protection === 'passphrase' ? await passphraseKey(meta, options) : await givenDataKey(options);
  if (keyFingerprint(key) !== meta.keyId) {
    key.fill(0);
    const what =
      meta.protection === 'passphrase' ? 'Wrong passphrase' : 'The data key given (LOGINKIT_DATA_KEY or its command) is not the key';
    throw new StorageError(
      options.location,
      `${what} for the shared store ${options.location} (its key id is ${meta.keyId}); nothing was read or written.\nUse the key the store was initialised with.`,
    );
  }
  return sourceFor(key, meta, options.location);
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
    const key = generate ? randomDataKey() : await givenDataKey(options);
    return { key, meta: { schemaVersion: 1, protection: 'data-key', keyId: keyFingerprint(key) } };
  }
  const kdf: KdfParams = { name: 'scrypt', ...SCRYPT_COST, salt: randomBytes(16).toString('base64') };
  const passphrase = await passphraseOf(options, 'create');
  if (passphrase === undefined) {
    throw new ConfigError(
      `The shared store ${options.location} needs a data key.\nMake one: loginkit store init --generate-key (then give it to every machine as LOGINKIT_DATA_KEY), or set LOGINKIT_PASSPHRASE.`,
    );
  }
  const key = await deriveKey(passphrase, Buffer.from(kdf.salt, 'base64'), kdf);
  return { key, meta: { schemaVersion: 1, protection: 'passphrase', keyId: keyFingerprint(key), kdf } };
}

/** LOGINKIT_DATA_KEY, else the output of LOGINKIT_DATA_KEY_COMMAND: base64 of 32 bytes. */
async function givenDataKey(options: SharedKeyOptions): Promise<Buffer> {
  const { env } = options;
  if (env.LOGINKIT_DATA_KEY) return parseDataKey(env.LOGINKIT_DATA_KEY, 'LOGINKIT_DATA_KEY');
  if (env.LOGINKIT_DATA_KEY_COMMAND)
    return parseDataKey(await runKeyCommand(env.LOGINKIT_DATA_KEY_COMMAND, env), 'The output of LOGINKIT_DATA_KEY_COMMAND');
  throw new ConfigError(
    `The shared store ${options.location} is encrypted with a data key, and none was given.\nSet LOGINKIT_DATA_KEY (base64 of the 32-byte key) or LOGINKIT_DATA_KEY_COMMAND (a command that prints it).`,
  );
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
 * bounded in time and output.
 */
function runKeyCommand(command: string, env: EnvVars): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { env: childEnvironment(env), timeout: KEY_COMMAND_TIMEOUT_MS, maxBuffer: KEY_COMMAND_MAX_OUTPUT, windowsHide: true },
      (error, stdout) => {
        if (error) {
          const why = error.killed ? `did not finish within ${KEY_COMMAND_TIMEOUT_MS / 1000} s` : `failed (exit ${String(error.code)})`;
          reject(new ConfigError(`LOGINKIT_DATA_KEY_COMMAND ${why}.\nCheck the command; it must print the base64 data key on stdout.`));
        } else resolve(stdout);
      },
    );
  });
}
