import type { Entries, Protection } from './entry-store.js';

/** Turns entries into the bytes of the store file and back; where encryption (or not) happens. */
export interface Codec {
  readonly backend: string;
  readonly protection: Protection;
  /**
   * Encodes `entries` as the new contents of the store file at `target.path`. `target.current` holds the
   * file's present bytes (the ones just decoded under the same write lock), or undefined when there is no
   * file yet: an encrypted codec keeps the key of the current file and makes a new one for a new file.
   */
  encode(entries: Entries, target: EncodeTarget): Promise<Uint8Array>;
  /** Parses the store file; throws a StorageError naming `path` when it is corrupt, foreign or unreadable. */
  decode(bytes: Uint8Array, path: string): Promise<Entries>;
}

/** The file an encoding is for. */
export interface EncodeTarget {
  readonly path: string;
  readonly current: Uint8Array | undefined;
}
