import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { Protection } from './entry-store.js';
import { SCRYPT_ACCEPTED } from './limits.js';
import { corruptStore, futureStore } from './plaintext-codec.js';

// The encrypted store's file format, without the cryptography: enough to tell which backend wrote a
// file and to check its shape, so that reading a plaintext store never loads node:crypto.

/** The value of `format` that marks an encrypted store file. */
export const ENVELOPE_FORMAT = 'loginkit-encrypted-store';
/** The current version of the envelope; a newer one is refused, never overwritten. */
export const ENVELOPE_VERSION = 1;
/** The cipher, and the sizes of its binary fields. */
export const CIPHER = 'aes-256-gcm';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

/**
 * Where the data key of an encrypted store lives. `data-key`: a random key given as such (LOGINKIT_DATA_KEY
 * or a key command), used by the shared stores of fleets (see shared-store.ts); never a local store file.
 */
export type KeySourceKind = 'keychain' | 'passphrase' | 'data-key';

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

// Built on first use: reading a plaintext store (`loginkit token`) never needs it.
let envelopeSchema: ReturnType<typeof buildEnvelopeSchema> | undefined;

function buildEnvelopeSchema() {
  const Base64 = z.string().check(z.regex(/^[A-Za-z0-9+/]*={0,2}$/));
  const KdfSchema = z.strictObject({
    name: z.literal('scrypt'),
    N: z.number().check(z.int()),
    r: z.number().check(z.int()),
    p: z.number().check(z.int()),
    salt: Base64,
  });
  return z.strictObject({
    format: z.literal(ENVELOPE_FORMAT),
    version: z.number(),
    protection: z.enum(['keychain', 'passphrase', 'data-key']),
    cipher: z.literal(CIPHER),
    keyId: z.string().check(z.regex(/^[0-9a-f]{16}$/)),
    kdf: z.optional(KdfSchema),
    iv: Base64,
    ciphertext: Base64,
    tag: Base64,
  });
}

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
  'data-key': 'encrypted (data key)',
};

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
  envelopeSchema ??= buildEnvelopeSchema();
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success || parsed.data.version !== ENVELOPE_VERSION) {
    throw corruptStore(path, 'is not a valid encrypted loginkit store');
  }
  const { iv, ciphertext, tag, ...rest } = parsed.data;
  const header: EnvelopeHeader = { ...rest, format: ENVELOPE_FORMAT, version: ENVELOPE_VERSION };
  if ((header.protection === 'passphrase') !== (header.kdf !== undefined)) {
    throw corruptStore(path, 'is not a valid encrypted loginkit store');
  }
  if (header.kdf) assertAcceptedKdfCost(header.kdf, path);
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

/**
 * Refuses scrypt parameters outside {@link SCRYPT_ACCEPTED}. Not marked damaged: a newer loginkit may have
 * written them, so `store reset` moves such a file aside only when forced.
 */
function assertAcceptedKdfCost(kdf: KdfParams, path: string): void {
  const { minLog2N, maxLog2N, r, p } = SCRYPT_ACCEPTED;
  const log2N = Math.log2(kdf.N);
  if (Number.isInteger(log2N) && log2N >= minLog2N && log2N <= maxLog2N && kdf.r === r && kdf.p === p) return;
  throw new StorageError(
    path,
    `The credential store ${path} asks for scrypt N=${kdf.N}, r=${kdf.r}, p=${kdf.p}, outside what loginkit uses (N=2^${minLog2N} to 2^${maxLog2N}, r=${r}, p=${p}): it was tampered with, or written by a newer loginkit; it was left untouched.\nUpgrade loginkit, or restore the file from a backup, or move it aside: loginkit store reset --force`,
  );
}

/** Decodes base64 only when it is the one canonical spelling of its bytes (and of `length` bytes when given). */
export function canonicalBase64(text: string, length?: number): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  if (length !== undefined && bytes.length !== length) return undefined;
  return bytes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
