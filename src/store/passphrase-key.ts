import { randomBytes, scrypt } from 'node:crypto';
import { ConfigError, StorageError } from '../errors.js';
import { type KeySource, keyFingerprint } from './encrypted-codec.js';
import type { EnvelopeHeader, KdfParams } from './envelope.js';
import { SCRYPT_COST } from './limits.js';

const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** What a passphrase is wanted for: to open an existing store, or to protect a new one (ask twice). */
export interface PassphraseRequest {
  readonly path: string;
  readonly purpose: 'unlock' | 'create';
}

/**
 * Supplies the passphrase: the CLI reads LOGINKIT_PASSPHRASE or asks at a hidden prompt. Undefined means
 * there is none to be had (non-interactive and no variable).
 */
export type PassphraseProvider = (request: PassphraseRequest) => Promise<string | undefined>;

/**
 * Data keys derived from a passphrase with scrypt. The passphrase is asked for once; the derived key is
 * kept for this source's lifetime (deriving costs ~0.1 s) and copies are handed out for each use.
 */
export function createPassphraseKeySource(provider: PassphraseProvider): KeySource {
  let passphrase: string | undefined;
  const derived = new Map<string, Buffer>();

  const passphraseFor = async (request: PassphraseRequest): Promise<string> => {
    if (passphrase !== undefined) return passphrase;
    const given = await provider(request);
    if (given === undefined) {
      throw new ConfigError(
        request.purpose === 'create'
          ? `A passphrase is needed to encrypt the credential store ${request.path}.\nSet LOGINKIT_PASSPHRASE, or run in a terminal to be asked for one.`
          : `The credential store ${request.path} is encrypted with a passphrase, and none was given.\nSet LOGINKIT_PASSPHRASE, or run in a terminal to be asked for it.`,
      );
    }
    if (given.length === 0) throw new ConfigError('The passphrase is empty.\nSet LOGINKIT_PASSPHRASE to a non-empty passphrase.');
    passphrase = given.normalize('NFC');
    return passphrase;
  };

  const derive = async (kdf: KdfParams, request: PassphraseRequest): Promise<Buffer> => {
    const id = `${kdf.N}:${kdf.r}:${kdf.p}:${kdf.salt}`;
    let key = derived.get(id);
    if (!key) {
      key = await deriveKey(await passphraseFor(request), Buffer.from(kdf.salt, 'base64'), kdf);
      derived.set(id, key);
    }
    return Buffer.from(key);
  };

  return {
    kind: 'passphrase',

    async unlock(header: EnvelopeHeader, path: string) {
      if (!header.kdf) throw new StorageError(path, `The credential store ${path} has no key derivation parameters.`);
      const key = await derive(header.kdf, { path, purpose: 'unlock' });
      if (keyFingerprint(key) !== header.keyId) {
        key.fill(0);
        derived.clear();
        passphrase = undefined;
        throw new StorageError(
          path,
          `Wrong passphrase for the credential store ${path}; nothing was changed.\nTry again with the passphrase the store was created with (LOGINKIT_PASSPHRASE or the prompt).`,
        );
      }
      return key;
    },

    async create(path: string) {
      const kdf: KdfParams = { name: 'scrypt', ...SCRYPT_COST, salt: randomBytes(SALT_BYTES).toString('base64') };
      const key = await derive(kdf, { path, purpose: 'create' });
      return { key, keyId: keyFingerprint(key), kdf };
    },
  };
}

/** scrypt of the passphrase (UTF-8, NFC) with the given cost, on the libuv pool so the event loop stays free. */
export function deriveKey(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  // scrypt needs 128·N·r bytes (plus a little); Node's default ceiling of 32 MiB is just too small for N=2^15, r=8.
  const maxmem = 128 * cost.N * cost.r * cost.p + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_BYTES, { N: cost.N, r: cost.r, p: cost.p, maxmem }, (error, key) => {
      secret.fill(0);
      if (error) reject(error);
      else resolve(key);
    });
  });
}
