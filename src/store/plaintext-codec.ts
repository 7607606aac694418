import * as z from 'zod/mini';
import { StorageError } from '../errors.js';
import type { Codec } from './codec.js';

/** The current format version of the store file; a newer one is refused, never overwritten. */
export const STORE_FORMAT_VERSION = 1;

const PlaintextFile = z.object({
  version: z.number(),
  entries: z.record(z.string(), z.unknown()),
});

/** Plain JSON, protected only by the file's 0600 mode. */
export const plaintextCodec: Codec = {
  backend: 'file',
  protection: 'plaintext file',
  encode: async (entries) => new TextEncoder().encode(`${JSON.stringify({ version: STORE_FORMAT_VERSION, entries }, null, 2)}\n`),
  decode: async (bytes, path) => {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw corruptStore(path, 'is not valid JSON');
    }
    const parsed = PlaintextFile.safeParse(json);
    if (!parsed.success) throw corruptStore(path, 'does not have the shape of a loginkit store');
    if (parsed.data.version !== STORE_FORMAT_VERSION) throw futureStore(path, parsed.data.version);
    return parsed.data.entries;
  },
};

/** The error for a store file that cannot be understood; the file is left untouched. */
export function corruptStore(path: string, why: string): StorageError {
  return markDamaged(
    new StorageError(
      path,
      `The credential store ${path} ${why}; it was left untouched.\nRestore it from a backup, or move it aside and sign in again: loginkit store reset`,
    ),
  );
}

const damaged = new WeakSet<Error>();

/**
 * Marks an error as meaning "this store file can never be read as it is" (corrupt, tampered, its key is
 * gone), as opposed to a passing problem (a locked keychain, a mistyped passphrase). `loginkit store reset`
 * moves only such a store aside without being forced.
 */
export function markDamaged<E extends Error>(error: E): E {
  damaged.add(error);
  return error;
}

/** Whether `error` says the store file is damaged for good (see {@link markDamaged}). */
export function isDamagedStore(error: unknown): boolean {
  return error instanceof Error && damaged.has(error);
}

/** The error for a store written by a newer loginkit. */
export function futureStore(path: string, version: unknown): StorageError {
  return new StorageError(
    path,
    `The credential store ${path} has format version ${String(version)}, newer than this loginkit understands; it was left untouched.\nUpgrade loginkit.`,
  );
}
