import { createHmac, hkdfSync } from 'node:crypto';
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

/** The record that describes the store itself; never an entry (record ids never start with `~`). */
export const META_KEY = '~meta';
/**
 * The layout of the records this loginkit writes; a store with a newer one is refused, never written.
 * 1: records named by their entry keys (`openai/default`); 2: by keyed ids (see {@link RecordIds}). A
 * store of layout 1 is read as it is and rewritten to layout 2 by its next write.
 */
export const SHARED_SCHEMA_VERSION = 2;

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
  if (!parsed.success || !Number.isInteger(parsed.data.schemaVersion) || parsed.data.schemaVersion < 1) {
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

/**
 * The names under which records and locks are kept in the database: HMAC-SHA256 of the entry key (or the
 * lock's name) under a key derived from the data key (HKDF), so that whoever reads the database — or
 * watches its locks and notifications — cannot tell who holds which credential, nor guess it by hashing
 * candidate names.
 */
export interface RecordIds {
  record(entryKey: string): string;
  lock(name: string): string;
}

/** The {@link RecordIds} of a store whose data key `source` hands out. */
export async function recordIdsOf(source: KeySource): Promise<RecordIds> {
  const { key } = await source.create(META_KEY);
  let idKey: Buffer;
  try {
    idKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'loginkit shared store record ids', 32));
  } finally {
    key.fill(0);
  }
  const mac = (domain: string, name: string): string => createHmac('sha256', idKey).update(`${domain}\0${name}`).digest('base64url');
  return { record: (entryKey) => `r.${mac('record', entryKey)}`, lock: (name) => `l.${mac('lock', name)}` };
}

interface CachedRecord {
  /** The record's id in the database (an entry key in a layout-1 store). */
  readonly row: string;
  readonly key: string;
  readonly version: number;
  readonly data: string;
  readonly value: unknown;
}

interface Snapshot {
  readonly checkedAt: number;
  readonly meta: SharedMeta;
  /** The meta record's version, for its compare-and-set when a write upgrades the layout. */
  readonly metaVersion: number;
  /** By entry key. */
  readonly records: ReadonlyMap<string, CachedRecord>;
  readonly entries: Entries;
}

/** A write of one record, with the entry it holds (none for the meta record). */
interface PlannedChange extends SharedChange {
  readonly entry?: string;
}

/** The codec and record ids of one data key. */
interface KeyTools {
  readonly codec: Codec;
  readonly ids: RecordIds;
}

/** Attempts of a read-modify-write whose records keep moving on under it, before giving up. */
const UPDATE_ATTEMPTS = 20;

/**
 * An EntryStore on a shared database. Reads are served from this process's memory for
 * {@link SHARED_STORE_REVALIDATE_MS} (a hot `getToken()` makes no round trip), and only records whose
 * version changed are decrypted again. Every update re-reads, applies the change, and commits each changed
 * record only if its version is still the one read: a write whose version moved on is retried on the new
 * value, never forced. Records and locks are named by keyed ids (see {@link RecordIds}).
 */
export function createSharedStore(driver: SharedDriver, options: SharedStoreOptions): EntryStore {
  const now = options.now ?? Date.now;
  let snapshot: Snapshot | undefined;
  let tools: { keyId: string; tools: Promise<KeyTools> } | undefined;
  let warnedOutage = false;

  const toolsFor = (meta: SharedMeta): Promise<KeyTools> => {
    if (tools?.keyId !== meta.keyId) {
      const built = options
        .keySource(meta)
        .then(async (source) => ({ codec: createEncryptedCodec(source), ids: await recordIdsOf(source) }));
      // A failure (no key given) is not kept: the next call may have one.
      built.catch(() => (tools = undefined));
      tools = { keyId: meta.keyId, tools: built };
    }
    return tools.tools;
  };

  const load = async (): Promise<Snapshot> => {
    const rows = await driver.loadAll();
    const metaRow = rows.find((row) => row.key === META_KEY);
    const meta = parseMeta(metaRow, driver.location);
    const keyTools = await toolsFor(meta);
    const previous = new Map([...(snapshot?.records.values() ?? [])].map((record) => [record.row, record]));
    const records = new Map<string, CachedRecord>();
    const entries: Record<string, unknown> = {};
    for (const row of rows) {
      if (row.key === META_KEY) continue;
      const known = previous.get(row.key);
      // Unchanged records keep their decoded value, and its identity: the session caches parsed credentials by it.
      const decoded =
        known && known.version === row.version && known.data === row.data ? known : await decodeRecord(keyTools, meta, row, driver);
      if (records.has(decoded.key)) throw damagedRecord(row.key, driver.location);
      records.set(decoded.key, { row: row.key, key: decoded.key, version: row.version, data: row.data, value: decoded.value });
      entries[decoded.key] = decoded.value;
    }
    snapshot = { checkedAt: now(), meta, metaVersion: metaRow?.version ?? 0, records, entries: Object.freeze(entries) };
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
        const changes = await changesBetween(current, next, await toolsFor(current.meta), driver);
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

    async withLock(name, task, lockOptions) {
      // The layout read now, not a cached one: a store of layout 1 may still be used by machines running an
      // earlier loginkit, which lock by plain names; they must exclude each other until its first write.
      const { meta } = await load();
      const { ids } = await toolsFor(meta);
      return driver.withLock(meta.schemaVersion < SHARED_SCHEMA_VERSION ? name : ids.lock(name), task, lockOptions);
    },

    close: () => driver.close(),
  };
}

function damagedRecord(row: string, location: string): StorageError {
  return new StorageError(location, `The record "${row}" of the shared store ${location} is damaged; nothing was changed.`);
}

/**
 * Decrypts one record. Its sealed entries must be exactly one, whose key the record's id names: a record
 * copied onto another entry's row (to swap credentials between people) is refused as damaged. A layout-1
 * store's records are named by their entry keys.
 */
async function decodeRecord(
  tools: KeyTools,
  meta: SharedMeta,
  row: SharedRecord,
  driver: SharedDriver,
): Promise<{ key: string; value: unknown }> {
  const where = `${driver.location} (record "${row.key}")`;
  const sealed = await tools.codec.decode(new TextEncoder().encode(row.data), where);
  const keys = Object.keys(sealed);
  const key = keys[0];
  const named = key !== undefined && (row.key === tools.ids.record(key) || (meta.schemaVersion === 1 && row.key === key));
  if (keys.length !== 1 || !named) throw damagedRecord(row.key, driver.location);
  return { key, value: sealed[key] };
}

/**
 * The record writes that turn `current` into `next`: changed and new entries encrypted, removed ones
 * deleted. A write to a layout-1 store rewrites every record under its keyed id and upgrades the meta
 * record, in the same atomic commit.
 */
async function changesBetween(current: Snapshot, next: Entries, tools: KeyTools, driver: SharedDriver): Promise<PlannedChange[]> {
  const upgrade = current.meta.schemaVersion < SHARED_SCHEMA_VERSION;
  const changes: PlannedChange[] = [];
  for (const [key, value] of Object.entries(next)) {
    if (key.startsWith('~')) throw new StorageError(driver.location, `"${key}" cannot be stored: keys starting with "~" are reserved.`);
    const row = tools.ids.record(key);
    const known = current.records.get(key);
    const moved = known !== undefined && known.row !== row;
    if (known && !moved && (known.value === value || JSON.stringify(known.value) === JSON.stringify(value))) continue;
    if (moved) changes.push({ key: known.row, expected: known.version, data: null, entry: key });
    const bytes = await tools.codec.encode({ [key]: value }, { path: driver.location, current: undefined });
    changes.push({ key: row, expected: moved ? 0 : (known?.version ?? 0), data: new TextDecoder().decode(bytes).trimEnd(), entry: key });
  }
  for (const [key, known] of current.records) {
    if (!(key in next)) changes.push({ key: known.row, expected: known.version, data: null, entry: key });
  }
  if (upgrade && changes.length > 0) {
    changes.push({
      key: META_KEY,
      expected: current.metaVersion,
      data: JSON.stringify({ ...current.meta, schemaVersion: SHARED_SCHEMA_VERSION }),
    });
  }
  return changes;
}

/** The snapshot after a successful commit, without reading the database again. */
function afterCommit(current: Snapshot, next: Entries, changes: readonly PlannedChange[], at: number): Snapshot {
  const records = new Map(current.records);
  let { meta, metaVersion } = current;
  for (const change of changes) {
    if (change.entry === undefined) {
      meta = { ...meta, schemaVersion: SHARED_SCHEMA_VERSION };
      metaVersion = change.expected + 1;
    } else if (change.data === null) {
      if (records.get(change.entry)?.row === change.key) records.delete(change.entry);
    } else {
      records.set(change.entry, {
        row: change.key,
        key: change.entry,
        version: change.expected + 1,
        data: change.data,
        value: next[change.entry],
      });
    }
  }
  return { checkedAt: at, meta, metaVersion, records, entries: Object.freeze({ ...next }) };
}
