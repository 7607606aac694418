import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { StorageError } from '../errors.js';
import { ensurePrivateDir, syncDir } from '../shared/atomic-file.js';
import { parseEnvelope } from './envelope.js';
import type { Entries, Protection } from './entry-store.js';
import { assertSafeToRead, resolveWriteTarget } from '../shared/file-safety.js';
import { WRITE_LOCK } from './file-store.js';
import { deleteKeychainKey, keychainAccount } from './keychain-key.js';
import { KEYCHAIN_SERVICE } from './limits.js';
import { withFileLock } from './locks.js';
import type { DataKeyOrigin } from './shared-keys.js';
import { isDamagedStore } from './plaintext-codec.js';
import { describeFsError, errorCode } from '../shared/errno.js';
import {
  type CredentialStoreOptions,
  type StoreBackend,
  type StoreChoice,
  type StoreSelection,
  codecFor,
  detectBackend,
  protectionOf,
  resolveStoreSelection,
} from './select-store.js';

/** The backends of a shared store (fleets). */
export type SharedBackend = 'postgres' | 'redis';

/** What `loginkit store status` shows. */
export interface StoreReport {
  /** The store file. */
  path: string;
  /** null when it cannot be told: the shared store's database could not be reached. */
  exists: boolean | null;
  /** The backend that wrote the file, or the shared store's (`postgres`, `redis`); null when there is none. */
  backend: StoreBackend | SharedBackend | null;
  protection: Protection;
  /** The backend asked for (by option, LOGINKIT_STORE, config.json, or the default `auto`). */
  selection: StoreSelection | { choice: SharedBackend; source: StoreSelection['source'] };
  /** Where the data key lives, for an encrypted store; a shared store's data key is named by its fingerprint. */
  key: { keychainService: string; keychainAccount: string } | { kdf: string } | SharedKeyReport | null;
  /** How many entries the store holds, when it could be opened. */
  entries: number | null;
  /** Why the store could not be opened, when it could not. */
  problem: string | null;
}

/** Where this machine finds a shared store's data key (never the key itself). */
export interface SharedKeyReport {
  /** Fingerprint of the store's data key (not secret). */
  dataKeyId: string;
  /** Where this machine found it, first to last: LOGINKIT_DATA_KEY, its command, the OS keychain; null when nowhere. */
  foundIn: DataKeyOrigin | null;
  /** With `foundIn: 'keychain'`: the keychain entry. */
  keychainService?: string;
  keychainAccount?: string;
}

/** The steps of a migration, in order, for progress display (and for tests that interrupt one). */
export type MigrationStep = 'read' | 'write' | 'verify' | 'switch' | 'cleanup';

/** What `migrateStore` did. */
export interface MigrationResult {
  /** The local store file. */
  path: string;
  /** The backend before (a shared store's: `postgres`, `redis`); null when there was no store file. */
  from: StoreBackend | SharedBackend | null;
  /** The backend after (`postgres` or `redis` for a move into the shared store). */
  to: StoreBackend | SharedBackend;
  /** How many entries were moved. */
  entries: number;
  /** False when there was nothing to do (the store already used `to`, or held nothing to move). */
  changed: boolean;
  /** Something left behind that the person may want to remove (the old keychain key), or null. */
  leftover: string | null;
  /** What happened to the person's own choice of backend (config.json updated, or LOGINKIT_STORE to change), or null. */
  note: string | null;
  /** For a move between the local store and a shared one: the shared store's URL (password masked); else null. */
  shared: string | null;
  /**
   * Of `entries`, how many the destination held already: identical copies, or, for an entry a killed
   * move had left in both places, the shared store's copy (kept, as other machines may have refreshed it).
   */
  alreadyThere: number;
  /** After a move out of a shared store: that the fleet's other machines no longer have these entries; else null. */
  fleet: string | null;
}

/** What `resetStore` did. */
export interface ResetResult {
  path: string;
  /** Where the old file now is, or null when there was no store file. */
  movedTo: string | null;
}

/** Options of {@link Loginkit.migrateStore}. */
export interface MigrateOptions {
  /** Called as each step starts (for a move to or from a shared store: write, verify and cleanup once per entry). */
  onStep?: (step: MigrationStep) => void;
  /** Records the new choice where the person had made one (config.json), so that it does not contradict the store. */
  writeSetting?: (choice: StoreChoice) => Promise<void>;
  /**
   * Between the local store and a shared one: entries that the destination holds with other values are
   * replaced by the ones moved (their copies there are lost). Without it the move is refused before
   * anything is written.
   */
  replace?: boolean;
  /**
   * Between the local store and a shared one: the names of the source store's locks to hold while one
   * entry moves out of it (the caller passes the refresh locks of the credentials in it, so that no
   * refresh of a moved credential is under way while it moves).
   */
  locksFor?: (key: string, value: unknown) => readonly string[];
}

/** Describes the store file without changing anything; opens it (asking for a passphrase if needed) to check it. */
export async function inspectStore(options: CredentialStoreOptions): Promise<StoreReport> {
  const selection = await resolveStoreSelection(options);
  const report: StoreReport = {
    path: options.path,
    exists: false,
    backend: null,
    protection: 'not created yet',
    selection,
    key: null,
    entries: null,
    problem: null,
  };
  const bytes = await readIfExists(options.path);
  if (!bytes) return report;
  report.exists = true;
  try {
    const backend = detectBackend(bytes, options.path);
    report.backend = backend;
    report.protection = protectionOf(backend);
    if (backend !== 'file') {
      const { header } = parseEnvelope(bytes, options.path);
      report.key = header.kdf
        ? { kdf: `${header.kdf.name} N=${header.kdf.N} r=${header.kdf.r} p=${header.kdf.p}` }
        : { keychainService: KEYCHAIN_SERVICE, keychainAccount: keychainAccount(options.path, header.keyId) };
    }
    report.entries = Object.keys(await (await codecFor(backend, options)).decode(bytes, options.path)).length;
  } catch (error) {
    report.problem = error instanceof Error ? error.message : String(error);
  }
  return report;
}

/**
 * Moves every entry to backend `to` without losing any, under the store's write lock: reads and decodes
 * the store, encodes it for `to` (a keychain key is created first) into a temporary file beside it, reads
 * that back and compares, renames it over the store, and only then removes the old keychain key. A kill at
 * any moment leaves either the old file with its key or the new one with its key.
 */
export async function migrateStore(
  options: CredentialStoreOptions,
  to: StoreBackend,
  migrate: MigrateOptions = {},
): Promise<MigrationResult> {
  const { path } = options;
  const result = await withFileLock(join(dirname(path), 'locks'), WRITE_LOCK, async (): Promise<MigrationResult> => {
    // The file replaced: a symlinked store stays a link to a new file.
    const file = resolveWriteTarget(path);
    await removeStaleTemporaries(file);
    migrate.onStep?.('read');
    const bytes = await readIfExists(path);
    const from = bytes ? detectBackend(bytes, path) : null;
    const entries: Entries = bytes && from ? await (await codecFor(from, options)).decode(bytes, path) : {};
    const count = Object.keys(entries).length;
    if (from === to) return { ...localResult(path, from, to, count), changed: false };

    migrate.onStep?.('write');
    const target = await codecFor(to, options);
    const encoded = await target.encode(entries, { path, current: undefined });
    const temporary = join(dirname(file), `.${basename(file)}.migrating-${process.pid}.tmp`);
    try {
      await writeDurably(temporary, encoded);

      migrate.onStep?.('verify');
      let readBack: Entries;
      try {
        readBack = await target.decode(await fs.readFile(temporary), path);
      } catch (error) {
        throw new StorageError(path, `The migrated store did not read back (${firstLine(error)}); the store was left as it was.`, {
          cause: error,
        });
      }
      if (!isDeepStrictEqual(readBack, entries)) {
        throw new StorageError(path, 'The migrated store did not read back the same entries; the store was left as it was.');
      }

      migrate.onStep?.('switch');
      try {
        await fs.rename(temporary, file);
      } catch (error) {
        throw new StorageError(path, `Cannot replace ${path}: ${describeFsError(error)}; the store was left as it was.`, { cause: error });
      }
    } catch (error) {
      // The old store is untouched: take back what was made for the new one.
      await fs.rm(temporary, { force: true }).catch(() => undefined);
      if (to === 'keychain') await deleteKeychainKey(path, parseEnvelope(encoded, path).header.keyId).catch(() => undefined);
      throw error;
    }
    await syncDir(dirname(file));

    migrate.onStep?.('cleanup');
    let leftover: string | null = null;
    if (from === 'keychain' && bytes) {
      const { keyId } = parseEnvelope(bytes, path).header;
      const account = keychainAccount(path, keyId);
      try {
        await deleteKeychainKey(path, keyId);
      } catch (error) {
        leftover = `The old key is still in the OS keychain (service "${KEYCHAIN_SERVICE}", account "${account}"): ${firstLine(error)}. Nothing needs it any more; remove it when the keychain is available.`;
      }
    }
    return { ...localResult(path, from, to, count), leftover };
  });
  // An explicit choice of another backend would now refuse the store: update it, or say what to change.
  const selection = await resolveStoreSelection(options);
  if (selection.choice === 'auto' || selection.choice === to) return result;
  if (selection.source === 'config.json' && migrate.writeSetting) {
    await migrate.writeSetting(to);
    return { ...result, note: `config.json now says "store": "${to}".` };
  }
  const asker = selection.source === 'option' ? 'The store option (--store)' : selection.source;
  return { ...result, note: `${asker} still asks for ${selection.choice}: change it to ${to}, or remove it.` };
}

/**
 * Moves the store file aside as `<file>.corrupt-<time>` (never deletes it, nor its keychain key), so that
 * the next sign-in starts a new store. A store that still opens, or fails for a passing reason (a locked
 * keychain, a wrong passphrase), is moved only with `force`.
 */
export async function resetStore(options: CredentialStoreOptions, reset: { force?: boolean } = {}): Promise<ResetResult> {
  const { path } = options;
  return withFileLock(join(dirname(path), 'locks'), WRITE_LOCK, async () => {
    const bytes = await readIfExists(path);
    if (!bytes) return { path, movedTo: null };
    if (!reset.force) {
      let count: number | undefined;
      try {
        const backend = detectBackend(bytes, path);
        count = Object.keys(await (await codecFor(backend, options)).decode(bytes, path)).length;
      } catch (error) {
        if (!isDamagedStore(error)) {
          throw new StorageError(
            path,
            `The credential store ${path} cannot be opened right now, but it does not look damaged: ${firstLine(error)}\nFix that and try again, or move it aside anyway: loginkit store reset --force`,
            { cause: error },
          );
        }
      }
      if (count !== undefined) {
        throw new StorageError(
          path,
          `The credential store ${path} opens fine (${count} ${count === 1 ? 'entry' : 'entries'}); nothing was changed.\nTo sign out everywhere: loginkit logout --all; to move it aside anyway: loginkit store reset --force`,
        );
      }
    }
    const movedTo = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await fs.rename(path, movedTo);
    } catch (error) {
      throw new StorageError(path, `Cannot move ${path} aside: ${describeFsError(error)}`, { cause: error });
    }
    await syncDir(dirname(path));
    return { path, movedTo };
  });
}

function localResult(path: string, from: StoreBackend | null, to: StoreBackend, entries: number): MigrationResult {
  return { path, from, to, entries, changed: true, leftover: null, note: null, shared: null, alreadyThere: 0, fleet: null };
}

/** The store file's bytes, or undefined when there is none; held to the same checks as every read. */
export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    const stats = await fs.stat(path);
    assertSafeToRead(path, stats);
    return await fs.readFile(path);
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (errorCode(error) === 'ENOENT') return undefined;
    throw new StorageError(path, `Cannot read ${path}: ${describeFsError(error)}`, { cause: error });
  }
}

/** Writes a new file (0600) and fsyncs it, so that it is complete on disk before anything points to it. */
async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  await ensurePrivateDir(dirname(path));
  await fs.rm(path, { force: true });
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await fs.rm(path, { force: true }).catch(() => undefined);
    throw new StorageError(path, `Cannot write ${path}: ${describeFsError(error)}`, { cause: error });
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Temporary files of migrations that were killed: encrypted or not, they duplicate credentials and go. */
async function removeStaleTemporaries(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.migrating-`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter((name) => name.startsWith(prefix)).map((name) => fs.rm(join(dir, name), { force: true })));
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
