import type { Entries, Protection } from './entry-store.js';

/** Turns entries into the bytes of the store file and back; where encryption (or not) happens. */
export interface Codec {
  readonly backend: string;
  readonly protection: Protection;
  encode(entries: Entries): Promise<Uint8Array>;
  /** Parses the store file; throws a StorageError naming `path` when it is corrupt, foreign or unreadable. */
  decode(bytes: Uint8Array, path: string): Promise<Entries>;
}
