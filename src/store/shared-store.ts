import * as z from 'zod/mini';
import { NetworkError, StorageError } from '../errors.js';
import type { Codec } from './codec.js';
import { type KeySource, createEncryptedCodec } from './encrypted-codec.js';
import type { Entries, EntryStore, LockOptions, Protection, StoreInfo } from './entry-store.js';
import { type KdfParams, PROTECTION_OF } from './envelope.js';
import { SHARED_STORE_REVALIDATE_MS } from './limits.js';

// A store shared by many machines through a database (PostgreSQL or Redis): one record per entry, each an
// envelope of the encrypted store format (AES-256-GCM, header authenticated) so the database never sees
// plaintext; a version per record for optimistic concurrency; the refresh lock held in the database.
// The drivers (postgres-store.ts, redis-store.ts) know the database; this module knows the rest.

/** One record as the database holds it: an entry's key, its version (1 on insert, +1 per write) and its envelope. */
export interface SharedRecord {
  readonly key: string;
  readonly version: number;
  readonly data: string;
}

/** A write of one record, applied only if the record is still at `expected` (0: absent); `data` null deletes it. */
export interface SharedChange {
  readonly key: string;
  readonly expected: number;
  readonly data: string | null;
}

/** The database side of a shared store: a few operations, each atomic. */
export interface SharedDriver {
  readonly backend: 'postgres' | 'redis';
  /** The URL with its password masked: the only form ever shown. */
  readonly location: string;
  /** Creates what the backend needs (a table); idempotent. */
  initialise(): Promise<void>;
  /** Every record, the meta record included. A missing table is a StorageError that says to run `store init`. */
  loadAll(): Promise<SharedRecord[]>;
  /** Applies every change atomically if each record is still at its expected version; false when one moved on. */
  commit(changes: readonly SharedChange[]): Promise<boolean>;
  /** Runs `task` holding the named lock, shared by every machine that uses this database. */
  withLock<T>(name: string, task: () => Promise<T>, options?: LockOptions<T>): Promise<T>;
  /** Closes the connections. */
  close(): Promise<void>;
}

/** The record that describes the store itself; never an entry (entry keys never start with `~`). */
export const META_KEY = '~meta';
/** The layout of the records this loginkit writes; a store with a newer one is refused, never written. */
export const SHARED_SCHEMA_VERSION = 1;

/** What the meta record says: the schema version and the one data key every record is encrypted with. */
export interface SharedMeta {
  readonly schemaVersion: number;
  readonly protection: 'data-key' | 'passphrase';
  /** Fingerprint of the data key (see keyFingerprint): not secret. */
  readonly keyId: string;
  /** For `passphrase`: how the key is derived (one salt for the whole store, so it is derived once). */
  readonly kdf?: KdfParams;
}

const MetaSchema = z.object({
  schemaVersion: z.number(),
  protection: z.enum(['data-key', 'passphrase']),
  keyId: z.string().check(z.regex(/^[0-9a-f]{16}$/)),
  kdf: z.optional(
    z.object({ name: z.literal('scrypt'), N: z.number(), r: z.number(), p: z.number(), salt: z.string().check(z.minLength(1)) }),
  ),
});

/** Parses the meta record, or says exactly what is wrong: not initialised, newer schema, damaged. */
export function parseMeta(record: SharedRecord | undefined, location: string): SharedMeta {
  if (!record) throw notInitialised(location);
  let json: unknown;
  try {
    json = JSON.parse(record.data);
  } catch {
    json = undefined;
  }
  const version = (json as { schemaVersion?: unknown } | undefined)?.schemaVersion;
  if (typeof version === 'number' && version > SHARED_SCHEMA_VERSION) {
    throw new StorageError(
      location,
      `The shared store ${location} has schema version ${version}, newer than this loginkit understands (${SHARED_SCHEMA_VERSION}); nothing was changed.\nUpgrade loginkit on this machine.`,
    );
  }
  const parsed = MetaSchema.safeParse(json);
  if (!parsed.success || parsed.data.schemaVersion !== SHARED_SCHEMA_VERSION) {
    throw new StorageError(location, `The shared store ${location} has a damaged description record ("${META_KEY}"); nothing was changed.`);
  }
  return parsed.data;
}

/** The error for a database without loginkit's table or meta record. */
export function notInitialised(location: string): StorageError {
  return new StorageError(location, `The shared store ${location} is not initialised.\nCreate it: loginkit store init`);
}

/** Options of {@link createSharedStore}. */
export interface SharedStoreOptions {
  /** The key source for the store's data key, once the meta record says which kind it is. */
  readonly keySource: (meta: SharedMeta) => Promise<KeySource>;
  /** Told when cached entries are served because the database cannot be reached. */
  readonly onWarning?: ((message: string) => void) | undefined;
  readonly now?: () => number;
}

interface CachedRecord {
  readonly version: number;
  readonly data: string;
  readonly value: unknown;
}

interface Snapshot {
  readonly checkedAt: number;
  readonly meta: SharedMeta;
  readonly records: ReadonlyMap<string, CachedRecord>;
  readonly entries: Entries;
}

/** Attempts of a read-modify-write whose records keep moving on under it, before giving up. */
const UPDATE_ATTEMPTS = 20;

/**
 * An EntryStore on a shared database. Reads are served from this process's memory for
 * {@link SHARED_STORE_REVALIDATE_MS} (a hot `getToken()` makes no round trip), and only records whose
 * version changed are decrypted again. Every update re-reads, applies the change, and commits each changed
 * record only if its version is still the one read: a write whose version moved on is retried on the new
 * value, never forced.
 */
export function createSharedStore(driver: SharedDriver, options: SharedStoreOptions): EntryStore {
  const now = options.now ?? Date.now;
  let snapshot: Snapshot | undefined;
  let codec: { keyId: string; codec: Promise<Codec> } | undefined;
  let warnedOutage = false;

  const codecFor = (meta: SharedMeta): Promise<Codec> => {
    if (codec?.keyId !== meta.keyId) {
      const built = options.keySource(meta).then(createEncryptedCodec);
      // A failure (no key given) is not kept: the next call may have one.
      built.catch(() => (codec = undefined));
      codec = { keyId: meta.keyId, codec: built };
    }
    return codec.codec;
  };

  const load = async (): Promise<Snapshot> => {
    const rows = await driver.loadAll();
    const meta = parseMeta(
      rows.find((row) => row.key === META_KEY),
      driver.location,
    );
    const decoder = await codecFor(meta);
    const previous = snapshot?.records;
    const records = new Map<string, CachedRecord>();
    const entries: Record<string, unknown> = {};
    for (const row of rows) {
      if (row.key === META_KEY) continue;
      const known = previous?.get(row.key);
      // Unchanged records keep their decoded value, and its identity: the session caches parsed credentials by it.
      const value =
        known && known.version === row.version && known.data === row.data ? known.value : await decodeRecord(decoder, row, driver);
      records.set(row.key, { version: row.version, data: row.data, value });
      entries[row.key] = value;
    }
    snapshot = { checkedAt: now(), meta, records, entries: Object.freeze(entries) };
    warnedOutage = false;
    return snapshot;
  };

  const info: StoreInfo = {
    backend: driver.backend,
    get protection(): Protection {
      return snapshot ? PROTECTION_OF[snapshot.meta.protection] : 'not created yet';
    },
    location: driver.location,
  };

  return {
    info,

    async read(readOptions = {}) {
      if (snapshot && !readOptions.fresh && now() - snapshot.checkedAt < SHARED_STORE_REVALIDATE_MS) return snapshot.entries;
      try {
        return (await load()).entries;
      } catch (error) {
        // Entries already read stay usable through an outage; decisions under a lock (fresh) never use them.
        if (readOptions.fresh || !snapshot || !(error instanceof NetworkError)) throw error;
        if (!warnedOutage) {
          warnedOutage = true;
          const age = Math.round((now() - snapshot.checkedAt) / 1000);
          options.onWarning?.(`${error.message.split('\n')[0]} Using the credentials read from it ${age} s ago.`);
        }
        return snapshot.entries;
      }
    },

    async update(change) {
      for (let attempt = 1; ; attempt++) {
        const current = await load();
        const next = change(current.entries);
        if (next === undefined) return current.entries;
        const changes = await changesBetween(current, next, await codecFor(current.meta), driver);
        if (changes.length === 0) return current.entries;
        if (await driver.commit(changes)) {
          snapshot = afterCommit(current, next, changes, now());
          return snapshot.entries;
        }
        if (attempt >= UPDATE_ATTEMPTS) {
          throw new StorageError(
            driver.location,
            `The shared store ${driver.location} changed under every one of ${UPDATE_ATTEMPTS} attempts to write it; nothing was overwritten.\nTry again.`,
          );
        }
        // Another machine wrote first: let it finish, then apply the change to what it wrote.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    },

    withLock: (name, task, lockOptions) => driver.withLock(name, task, lockOptions),

    close: () => driver.close(),
  };
}

/** Decrypts one record; its sealed entries must hold exactly its own key (a record moved to another key is refused). */
async function decodeRecord(codec: Codec, row: SharedRecord, driver: SharedDriver): Promise<unknown> {
  const where = `${driver.location} (record "${row.key}")`;
  const sealed = await codec.decode(new TextEncoder().encode(row.data), where);
  const keys = Object.keys(sealed);
  if (keys.length !== 1 || keys[0] !== row.key) {
    throw new StorageError(
      driver.location,
      `The record "${row.key}" of the shared store ${driver.location} is damaged; nothing was changed.`,
    );
  }
  return sealed[row.key];
}

/** The record writes that turn `current` into `next`: changed and new entries encrypted, removed ones deleted. */
async function changesBetween(current: Snapshot, next: Entries, codec: Codec, driver: SharedDriver): Promise<SharedChange[]> {
  const changes: SharedChange[] = [];
  for (const [key, value] of Object.entries(next)) {
    if (key.startsWith('~')) throw new StorageError(driver.location, `"${key}" cannot be stored: keys starting with "~" are reserved.`);
    const known = current.records.get(key);
    if (known && (known.value === value || JSON.stringify(known.value) === JSON.stringify(value))) continue;
    const bytes = await codec.encode({ [key]: value }, { path: driver.location, current: undefined });
    changes.push({ key, expected: known?.version ?? 0, data: new TextDecoder().decode(bytes).trimEnd() });
  }
  for (const [key, known] of current.records) {
    if (!(key in next)) changes.push({ key, expected: known.version, data: null });
  }
  return changes;
}

/** The snapshot after a successful commit, without reading the database again. */
function afterCommit(current: Snapshot, next: Entries, changes: readonly SharedChange[], at: number): Snapshot {
  const records = new Map(current.records);
  for (const change of changes) {
    if (change.data === null) records.delete(change.key);
    else records.set(change.key, { version: change.expected + 1, data: change.data, value: next[change.key] });
  }
  return { checkedAt: at, meta: current.meta, records, entries: Object.freeze({ ...next }) };
}
