import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { Codec } from './codec.js';
import type { Entries } from './entry-store.js';
import {
  CIPHER,
  ENVELOPE_FORMAT,
  ENVELOPE_VERSION,
  type EnvelopeHeader,
  IV_BYTES,
  type KdfParams,
  type KeySourceKind,
  PROTECTION_OF,
  TAG_BYTES,
  parseEnvelope,
} from './envelope.js';
import { corruptStore } from './plaintext-codec.js';

const KEY_BYTES = 32;

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

const SealedEntries = z.object({ entries: z.record(z.string(), z.unknown()) });

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
