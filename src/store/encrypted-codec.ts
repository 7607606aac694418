import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { Codec } from './codec.js';
import type { Entries, Protection } from './entry-store.js';
import { corruptStore, futureStore } from './plaintext-codec.js';

/** The value of `format` that marks an encrypted store file. */
export const ENVELOPE_FORMAT = 'loginkit-encrypted-store';
/** The current version of the envelope; a newer one is refused, never overwritten. */
export const ENVELOPE_VERSION = 1;
const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Where the data key of an encrypted store lives. */
export type KeySourceKind = 'keychain' | 'passphrase';

/** How a passphrase becomes the data key; stored in the envelope so that it can change later. */
export interface KdfParams {
  readonly name: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** base64 of the random salt. */
  readonly salt: string;
}

/** The authenticated, unencrypted part of the envelope. */
export interface EnvelopeHeader {
  readonly format: typeof ENVELOPE_FORMAT;
  readonly version: number;
  readonly protection: KeySourceKind;
  readonly cipher: typeof CIPHER;
  /** Fingerprint of the data key (see {@link keyFingerprint}); names the keychain entry. */
  readonly keyId: string;
  readonly kdf?: KdfParams;
}

/** A fresh data key for a new store file, with what its header must say. */
export interface NewKey {
  readonly key: Buffer;
  readonly keyId: string;
  readonly kdf?: KdfParams;
}

/**
 * Where a data key comes from. Every key handed out is the caller's to zero; the source keeps its own copy
 * when it needs one.
 */
export interface KeySource {
  readonly kind: KeySourceKind;
  /** The key that opens a file with `header`, checked against `header.keyId`; a StorageError naming `path` otherwise. */
  unlock(header: EnvelopeHeader, path: string): Promise<Buffer>;
  /** A new random key (keychain: saved there first) or a new salt (passphrase), for a new file at `path`. */
  create(path: string): Promise<NewKey>;
}

const Base64 = z.string().check(z.regex(/^[A-Za-z0-9+/]*={0,2}$/));
const KdfSchema = z.strictObject({
  name: z.literal('scrypt'),
  N: z.number().check(z.int(), z.minimum(2), z.maximum(2 ** 20)),
  r: z.number().check(z.int(), z.minimum(1), z.maximum(32)),
  p: z.number().check(z.int(), z.minimum(1), z.maximum(16)),
  salt: Base64,
});
const EnvelopeSchema = z.strictObject({
  format: z.literal(ENVELOPE_FORMAT),
  version: z.number(),
  protection: z.enum(['keychain', 'passphrase']),
  cipher: z.literal(CIPHER),
  keyId: z.string().check(z.regex(/^[0-9a-f]{16}$/)),
  kdf: z.optional(KdfSchema),
  iv: Base64,
  ciphertext: Base64,
  tag: Base64,
});
const SealedEntries = z.object({ entries: z.record(z.string(), z.unknown()) });

/** A parsed envelope: its header, and the binary fields decoded. */
export interface Envelope {
  readonly header: EnvelopeHeader;
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** What `status` shows for each kind of key source. */
export const PROTECTION_OF: Readonly<Record<KeySourceKind, Protection>> = {
  keychain: 'encrypted (keychain)',
  passphrase: 'encrypted (passphrase)',
};

/**
 * AES-256-GCM under a 32-byte data key from `source`. The file is a JSON envelope whose header (format,
 * version, protection, cipher, key id, kdf) is authenticated as additional data, with a fresh 12-byte IV
 * per write: any change to any byte of the file, or a truncation, fails to decode and names the file.
 */
export function createEncryptedCodec(source: KeySource): Codec {
  return {
    backend: source.kind,
    protection: PROTECTION_OF[source.kind],

    async encode(entries, { path, current }) {
      const reuse = current === undefined ? undefined : parseEnvelope(current, path);
      let header: EnvelopeHeader;
      let key: Buffer;
      if (reuse?.header.protection === source.kind) {
        header = reuse.header;
        key = await source.unlock(header, path);
      } else {
        const created = await source.create(path);
        key = created.key;
        header = {
          format: ENVELOPE_FORMAT,
          version: ENVELOPE_VERSION,
          protection: source.kind,
          cipher: CIPHER,
          keyId: created.keyId,
          ...(created.kdf ? { kdf: created.kdf } : {}),
        };
      }
      const iv = randomBytes(IV_BYTES);
      const plaintext = Buffer.from(JSON.stringify({ entries }), 'utf8');
      let ciphertext: Buffer;
      let tag: Buffer;
      try {
        const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
        cipher.setAAD(additionalData(header));
        ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        tag = cipher.getAuthTag();
      } finally {
        key.fill(0);
        plaintext.fill(0);
      }
      const envelope = {
        ...header,
        iv: iv.toString('base64'),
        ciphertext: ciphertext.toString('base64'),
        tag: tag.toString('base64'),
      };
      return new TextEncoder().encode(`${JSON.stringify(envelope)}\n`);
    },

    async decode(bytes, path) {
      const envelope = parseEnvelope(bytes, path);
      if (envelope.header.protection !== source.kind) {
        throw new StorageError(
          path,
          `The credential store ${path} is protected by ${envelope.header.protection}, not ${source.kind}; it was left untouched.`,
        );
      }
      const key = await source.unlock(envelope.header, path);
      let plaintext: Buffer;
      try {
        const decipher = createDecipheriv(CIPHER, key, envelope.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(additionalData(envelope.header));
        decipher.setAuthTag(envelope.tag);
        plaintext = Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]);
      } catch {
        throw corruptStore(path, 'has been changed or damaged since loginkit wrote it (it fails authentication)');
      } finally {
        key.fill(0);
      }
      try {
        const parsed = SealedEntries.safeParse(JSON.parse(plaintext.toString('utf8')));
        if (!parsed.success) throw new Error('not a set of entries');
        return parsed.data.entries as Entries;
      } catch {
        throw corruptStore(path, 'holds data loginkit cannot read');
      } finally {
        plaintext.fill(0);
      }
    },
  };
}

/**
 * Parses an envelope strictly: unknown or missing fields, non-canonical base64, wrong lengths and newer
 * versions are all refused, so that no change to the file goes unnoticed.
 */
export function parseEnvelope(bytes: Uint8Array, path: string): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corruptStore(path, 'is truncated or not valid JSON');
  }
  if (isRecord(json) && json.format === ENVELOPE_FORMAT && typeof json.version === 'number' && json.version > ENVELOPE_VERSION) {
    throw futureStore(path, json.version);
  }
  const parsed = EnvelopeSchema.safeParse(json);
  if (!parsed.success || parsed.data.version !== ENVELOPE_VERSION) {
    throw corruptStore(path, 'is not a valid encrypted loginkit store');
  }
  const { iv, ciphertext, tag, ...rest } = parsed.data;
  const header: EnvelopeHeader = { ...rest, format: ENVELOPE_FORMAT, version: ENVELOPE_VERSION };
  if ((header.protection === 'passphrase') !== (header.kdf !== undefined)) {
    throw corruptStore(path, 'is not a valid encrypted loginkit store');
  }
  const binary = {
    iv: canonicalBase64(iv, IV_BYTES),
    ciphertext: canonicalBase64(ciphertext),
    tag: canonicalBase64(tag, TAG_BYTES),
    salt: header.kdf ? canonicalBase64(header.kdf.salt) : Buffer.alloc(16),
  };
  if (!binary.iv || !binary.ciphertext || !binary.tag || !binary.salt || binary.salt.length < 16) {
    throw corruptStore(path, 'is not a valid encrypted loginkit store');
  }
  return { header, iv: binary.iv, ciphertext: binary.ciphertext, tag: binary.tag };
}

/** The fingerprint that names a data key: not secret, and says whether a key is the one a file needs. */
export function keyFingerprint(key: Uint8Array): string {
  return createHmac('sha256', key).update('loginkit data key id v1').digest('hex').slice(0, 16);
}

/** A new random data key. */
export function randomDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** The header fields, in a fixed order, as the AAD bytes: the same header always gives the same bytes. */
function additionalData(header: EnvelopeHeader): Buffer {
  const kdf = header.kdf ? [header.kdf.name, header.kdf.N, header.kdf.r, header.kdf.p, header.kdf.salt] : null;
  return Buffer.from(JSON.stringify([header.format, header.version, header.protection, header.cipher, header.keyId, kdf]), 'utf8');
}

/** Decodes base64 only when it is the one canonical spelling of its bytes (and of the expected length). */
function canonicalBase64(text: string, length?: number): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  if (length !== undefined && bytes.length !== length) return undefined;
  return bytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
