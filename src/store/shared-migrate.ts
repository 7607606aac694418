import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { StorageError } from '../errors.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { errorCode } from '../shared/errno.js';
import { assertSafeToRead } from '../shared/file-safety.js';
import { type MigrateOptions, type MigrationResult, type SharedBackend, migrateStore, readIfExists } from './admin.js';
import type { Codec } from './codec.js';
import type { Entries, EntryStore } from './entry-store.js';
import { createFileStore } from './file-store.js';
import { withFileLock } from './locks.js';
import {
  type CredentialStoreOptions,
  type StoreBackend,
  type StoreSelection,
  codecFor,
  detectBackend,
  protectionOf,
} from './select-store.js';
import { sharedKeySource } from './shared-keys.js';
import { openSharedDriver, parseSharedStoreUrl } from './shared-open.js';
import { createSharedStore } from './shared-store.js';

// Moves between this home's local store file and a shared store (fleets), with move semantics: an entry
// lives in one place, because a rotating refresh token redeemed from two places trips the server's reuse
// detection, which revokes the grant. Each entry is copied, read back from storage and compared, and only
// then removed from where it was, while the source's locks for it are held (the caller passes the refresh
// locks of the credentials in it), so that no refresh of it is under way meanwhile. A kill leaves each
// entry in its source, or in both places: running the move again finishes it, since identical copies are
// fine. An entry that a killed move left in both places is written down beforehand (the journal, keys
// only), and when its copies differ by the time of the rerun, the shared store's is kept: machines of the
// fleet may have refreshed it since, while the local copy was in use nowhere.

/** The shared store of a move: its URL (never shown) and which setting named it. */
export interface SharedStoreRef {
  readonly url: string;
  readonly source: StoreSelection['source'];
}

/** The lock of this home that one move at a time holds (it is not the store's write lock, which the move's writes take). */
const MOVE_LOCK = 'store-move';
/** Attempts to move one entry whose source keeps changing under the move (a new sign-in, say). */
const ENTRY_ATTEMPTS = 5;
/** Entry keys named in a refusal; more are counted. */
const NAMED_KEYS = 10;

/**
 * Moves every entry of this home's local store file (whatever backend wrote it) into the shared store:
 * refused before anything is written when the shared store holds any of them with other values (unless
 * `replace`), or is not initialised. The local file keeps its backend and loses the moved entries.
 */
export async function migrateToShared(
  options: CredentialStoreOptions,
  shared: SharedStoreRef,
  move: MigrateOptions = {},
): Promise<MigrationResult> {
  return withSharedStore(options, shared, async (remote) => {
    const local = openLocalFile(options);
    return withFileLock(join(dirname(options.path), 'locks'), MOVE_LOCK, async () => {
      const bytes = await readIfExists(options.path);
      const from = bytes ? detectBackend(bytes, options.path) : null;
      const sides: MoveSides = {
        source: local.store,
        destination: remote.store,
        readBack: remote.readBack,
        shared: 'destination',
        names: { source: `the local store ${options.path}`, destination: `the shared store ${remote.location}`, command: 'shared' },
      };
      const counts = await moveEntries(sides, createJournal(options.path, remote.location), move);
      return {
        path: options.path,
        from,
        to: remote.backend,
        entries: counts.moved,
        changed: counts.moved > 0,
        leftover: null,
        note: null,
        shared: remote.location,
        alreadyThere: counts.alreadyThere,
        fleet: null,
      };
    });
  });
}

/**
 * Moves every entry of the shared store into this home's local store file with backend `to` (a file of
 * another backend is first migrated to `to`, keeping its entries), refused before anything is written when
 * the local file holds any of them with other values (unless `replace`). Then records `to` where the
 * person named the shared store (config.json through `writeSetting`), or says what to change.
 */
export async function migrateFromShared(
  options: CredentialStoreOptions,
  shared: SharedStoreRef,
  to: StoreBackend,
  move: MigrateOptions = {},
): Promise<MigrationResult> {
  const result = await withSharedStore(options, shared, async (remote) => {
    const local = openLocalFile(options, to);
    return withFileLock(join(dirname(options.path), 'locks'), MOVE_LOCK, async () => {
      const sides: MoveSides = {
        source: remote.store,
        destination: local.store,
        readBack: local.readBack,
        shared: 'source',
        names: { source: `the shared store ${remote.location}`, destination: `the local store ${options.path}`, command: to },
      };
      let leftover: string | null = null;
      const counts = await moveEntries(sides, createJournal(options.path, remote.location), move, async () => {
        // Checked and refused before: now the local file may take the backend asked for, its entries kept.
        const bytes = await readIfExists(options.path);
        if (bytes && detectBackend(bytes, options.path) !== to) leftover = (await migrateStore({ ...options, choice: to }, to)).leftover;
      });
      const fleet =
        counts.moved === 0
          ? null
          : `The other machines of the fleet no longer have ${counts.moved === 1 ? 'this entry' : `these ${counts.moved} entries`}: they are in this machine's local store alone.`;
      return { location: remote.location, backend: remote.backend, counts, leftover, fleet };
    });
  });
  move.onStep?.('switch');
  let note: string;
  if (shared.source === 'config.json' && move.writeSetting) {
    await move.writeSetting(to);
    note = `config.json now says "store": "${to}": this machine uses its local store.`;
  } else {
    note = `${shared.source} still names the shared store: unset it (or set it to ${to}) so that this machine uses its local store.`;
  }
  return {
    path: options.path,
    from: result.backend,
    to,
    entries: result.counts.moved,
    changed: true,
    leftover: result.leftover,
    note,
    shared: result.location,
    alreadyThere: result.counts.alreadyThere,
    fleet: result.fleet,
  };
}

interface OpenedShared {
  readonly location: string;
  readonly backend: SharedBackend;
  readonly store: EntryStore;
  /** The entries as stored: a second view that decodes every record itself, never the writer's memory. */
  readonly readBack: () => Promise<Entries>;
}

/** Opens the shared store (refused, with the command that creates it, when it is not initialised) for `task`, and closes it. */
async function withSharedStore<T>(
  options: CredentialStoreOptions,
  shared: SharedStoreRef,
  task: (opened: OpenedShared) => Promise<T>,
): Promise<T> {
  const parsed = parseSharedStoreUrl(shared.url, shared.source === 'config.json' ? '"store" in config.json' : shared.source);
  const driver = await openSharedDriver(parsed, options.env);
  try {
    const keySource = {
      keySource: (meta: Parameters<typeof sharedKeySource>[0]) => sharedKeySource(meta, { ...options, location: parsed.location }),
    };
    const store = createSharedStore(driver, { ...keySource, onWarning: options.onWarning });
    const check = createSharedStore(driver, keySource);
    // Not initialised, unreachable, or not this machine's key: said now, before the local file is touched.
    await store.read({ fresh: true });
    return await task({ location: parsed.location, backend: parsed.backend, store, readBack: () => check.read({ fresh: true }) });
  } finally {
    await driver.close().catch(() => undefined);
  }
}

/**
 * The local store file as a move sees it: read with whichever backend wrote it, written with the same
 * (a new file with `newBackend`), whatever LOGINKIT_STORE or config.json say (they name the shared store).
 */
function openLocalFile(
  options: CredentialStoreOptions,
  newBackend?: StoreBackend,
): { store: EntryStore; readBack: () => Promise<Entries> } {
  const check = createFileStore(options.path, fileCodec(options, newBackend));
  return { store: createFileStore(options.path, fileCodec(options, newBackend)), readBack: () => check.read({ fresh: true }) };
}

function fileCodec(options: CredentialStoreOptions, newBackend: StoreBackend | undefined): Codec {
  const codecs = new Map<StoreBackend, Promise<Codec>>();
  const codec = (backend: StoreBackend): Promise<Codec> => {
    let found = codecs.get(backend);
    if (!found) codecs.set(backend, (found = codecFor(backend, options)));
    return found;
  };
  let seen: StoreBackend | undefined = newBackend;
  return {
    get backend() {
      return seen ?? 'auto';
    },
    get protection() {
      return seen ? protectionOf(seen) : 'not created yet';
    },
    async decode(bytes, path) {
      seen = detectBackend(bytes, path);
      return (await codec(seen)).decode(bytes, path);
    },
    async encode(entries, target) {
      const backend = target.current ? detectBackend(target.current, target.path) : newBackend;
      // Moving into the shared store only removes entries from a file that exists.
      if (!backend) throw new StorageError(target.path, `No backend was chosen for a new store at ${target.path}.`);
      return (await codec(backend)).encode(entries, target);
    },
  };
}

/** The two stores of a move, and how to name them. */
interface MoveSides {
  readonly source: EntryStore;
  readonly destination: EntryStore;
  /** The destination's entries as stored, read back to verify a write. */
  readonly readBack: () => Promise<Entries>;
  /** Which side is the shared store: its copy is kept for an entry the journal says a killed move left in both. */
  readonly shared: 'source' | 'destination';
  readonly names: { readonly source: string; readonly destination: string; readonly command: string };
}

interface MoveCounts {
  moved: number;
  alreadyThere: number;
}

/**
 * Moves every entry of `sides.source` to `sides.destination`, one at a time: refused up front when the
 * destination holds any with other values (unless `replace`); then, per entry and holding its locks in
 * the source, written to the destination (its update commits only over what it read), read back and
 * compared, and only then removed from the source if it is still what was moved. `beforeWrite` runs once
 * the refusal checks have passed, before the first write.
 */
async function moveEntries(
  sides: MoveSides,
  journal: Journal,
  options: MigrateOptions,
  beforeWrite?: () => Promise<void>,
): Promise<MoveCounts> {
  options.onStep?.('read');
  const [sourceEntries, destinationEntries] = await Promise.all([
    sides.source.read({ fresh: true }),
    sides.destination.read({ fresh: true }),
  ]);
  const pending = await journal.read();
  const differing = Object.keys(sourceEntries).filter(
    (key) => key in destinationEntries && !isDeepStrictEqual(sourceEntries[key], destinationEntries[key]) && !pending.has(key),
  );
  if (differing.length > 0 && !options.replace) throw conflict(differing, sides, 'nothing was moved');
  await beforeWrite?.();

  const counts: MoveCounts = { moved: 0, alreadyThere: 0 };
  for (const key of Object.keys(sourceEntries).sort()) {
    const locks = [...new Set(options.locksFor?.(key, sourceEntries[key]) ?? [])].sort();
    const outcome = await holding(sides.source, locks, () => moveEntry(key, pending.has(key), sides, journal, options));
    if (outcome === 'gone') continue;
    counts.moved += 1;
    if (outcome === 'alreadyThere') counts.alreadyThere += 1;
  }
  return counts;
}

type EntryOutcome = 'copied' | 'alreadyThere' | 'gone';

/**
 * Moves one entry (see {@link moveEntries}); the caller holds its locks in the source. `interrupted`: the
 * journal said, before this run wrote anything, that a killed move may have left it in both places.
 */
async function moveEntry(
  key: string,
  interrupted: boolean,
  sides: MoveSides,
  journal: Journal,
  options: MigrateOptions,
): Promise<EntryOutcome> {
  // What this run wrote to the destination: a destination still holding it is overwritten if the source moved on.
  let written: { value: unknown } | undefined;
  for (let attempt = 1; attempt <= ENTRY_ATTEMPTS; attempt++) {
    const value = (await sides.source.read({ fresh: true }))[key];
    if (value === undefined) return 'gone';
    await journal.add(key);

    options.onStep?.('write');
    let outcome: EntryOutcome = 'copied';
    let kept: unknown = value;
    await sides.destination.update((entries) => {
      const present = entries[key];
      if (present === undefined || (written && isDeepStrictEqual(present, written.value))) return { ...entries, [key]: value };
      if (isDeepStrictEqual(present, value)) {
        outcome = 'alreadyThere';
        return undefined;
      }
      if (interrupted && sides.shared === 'destination') {
        // Left in both places by a killed move, and changed here since: the shared copy is the live one.
        outcome = 'alreadyThere';
        kept = present;
        return undefined;
      }
      if (interrupted || options.replace) return { ...entries, [key]: value };
      // Written there since the checks at the start.
      throw conflict([key], sides, 'it was not moved (the entries before it were)');
    });
    written = outcome === 'copied' ? { value } : undefined;

    options.onStep?.('verify');
    let stored: unknown;
    try {
      stored = (await sides.readBack())[key];
    } catch (error) {
      throw new StorageError(
        sides.names.destination,
        `"${key}" did not read back from ${sides.names.destination} (${firstLine(error)}); it is still in ${sides.names.source}.\nFix that and run the move again: entries already moved are not moved twice.`,
        { cause: error },
      );
    }
    if (!isDeepStrictEqual(stored, kept)) {
      throw new StorageError(
        sides.names.destination,
        `"${key}" did not read back the same from ${sides.names.destination}; it is still in ${sides.names.source}.\nRun the move again: entries already moved are not moved twice.`,
      );
    }

    options.onStep?.('cleanup');
    let removed = false;
    await sides.source.update((entries) => {
      if (!isDeepStrictEqual(entries[key], value)) return undefined;
      removed = true;
      const { [key]: _moved, ...rest } = entries;
      return rest;
    });
    if (removed) {
      await journal.remove(key);
      return outcome;
    }
    // The source changed under the move (a new sign-in, say): move what it holds now.
  }
  throw new StorageError(
    sides.names.source,
    `"${key}" kept changing in ${sides.names.source} while it was moved; it may be in both stores for now.\nRun the move again once nothing else writes it.`,
  );
}

/** Runs `task` holding the named locks of `store`, taken one after the other in the order given. */
async function holding<T>(store: EntryStore, names: readonly string[], task: () => Promise<T>): Promise<T> {
  const [first, ...rest] = names;
  return first === undefined ? task() : store.withLock(first, () => holding(store, rest, task));
}

function conflict(keys: readonly string[], sides: MoveSides, outcome: string): StorageError {
  const named = keys
    .slice(0, NAMED_KEYS)
    .map((key) => `"${key}"`)
    .join(', ');
  const more = keys.length > NAMED_KEYS ? ` and ${keys.length - NAMED_KEYS} more` : '';
  const count = keys.length === 1 ? 'entry is' : 'entries are';
  return new StorageError(
    sides.names.destination,
    `${keys.length} ${count} in both ${sides.names.source} and ${sides.names.destination} with other values: ${named}${more}; ${outcome}.\nKeep the ones being moved, replacing the others: loginkit store migrate --to ${sides.names.command} --replace (or sign out of them in one store first).`,
  );
}

/**
 * The keys a move was in the middle of moving (copied, maybe, and not yet removed from their source),
 * each with the shared store's masked URL, in `<store file>.moving` beside the store: keys only, never
 * values. Read and written under the move lock.
 */
interface Journal {
  /** The keys pending for this shared store. */
  read(): Promise<ReadonlySet<string>>;
  add(key: string): Promise<void>;
  remove(key: string): Promise<void>;
}

function createJournal(storePath: string, location: string): Journal {
  const path = `${storePath}.moving`;
  let entries: Record<string, string> | undefined;

  const load = async (): Promise<Record<string, string>> => {
    if (entries) return entries;
    entries = {};
    try {
      const stats = await fs.stat(path);
      assertSafeToRead(path, stats);
      const parsed = JSON.parse(await fs.readFile(path, 'utf8')) as { moving?: unknown };
      if (typeof parsed.moving === 'object' && parsed.moving !== null) {
        for (const [key, where] of Object.entries(parsed.moving)) if (typeof where === 'string') entries[key] = where;
      }
    } catch (error) {
      // No journal: nothing was interrupted. A damaged one is ignored: differing copies are then refused, never overwritten.
      if (error instanceof StorageError || (errorCode(error) !== 'ENOENT' && !(error instanceof SyntaxError))) throw error;
    }
    return entries;
  };
  const save = async (next: Record<string, string>): Promise<void> => {
    entries = next;
    if (Object.keys(next).length > 0) await writeFileAtomic(path, `${JSON.stringify({ moving: next }, null, 2)}\n`);
    else await fs.rm(path, { force: true });
  };

  return {
    async read() {
      const all = await load();
      return new Set(Object.keys(all).filter((key) => all[key] === location));
    },
    async add(key) {
      const all = await load();
      if (all[key] !== location) await save({ ...all, [key]: location });
    },
    async remove(key) {
      const all = await load();
      if (!(key in all)) return;
      const { [key]: _done, ...rest } = all;
      await save(rest);
    },
  };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
