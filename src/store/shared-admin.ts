import { ConfigError, NetworkError } from '../errors.js';
import type { SharedKeyReport, StoreReport } from './admin.js';
import type { Protection } from './entry-store.js';
import { PROTECTION_OF } from './envelope.js';
import type { CredentialStoreOptions, StoreSelection } from './select-store.js';
import { KEYCHAIN_SERVICE } from './limits.js';
import {
  type FoundKey,
  findSharedKey,
  forgetKeyInKeychain,
  hasGivenDataKey,
  keyForNewStore,
  saveKeyInKeychain,
  sharedKeySource,
  sharedKeychainAccount,
} from './shared-keys.js';
import { openSharedDriver, parseSharedStoreUrl } from './shared-open.js';
import { META_KEY, type SharedDriver, type SharedMeta, createSharedStore, parseMeta } from './shared-store.js';

/** What `loginkit store init` did. */
export interface StoreInitResult {
  /** The store's URL, password masked. */
  location: string;
  backend: 'postgres' | 'redis';
  /** False when the store was already initialised (nothing was changed). */
  created: boolean;
  protection: Protection;
  /** Fingerprint of the store's data key (not secret): machines with another key are refused. */
  keyId: string;
  /** The new data key, base64, when one was generated: give it to every machine as LOGINKIT_DATA_KEY. Shown once. */
  dataKey: string | null;
  /** With `keychain`: the OS keychain entry that now holds the data key on this machine; null otherwise. */
  keychain: KeychainEntry | null;
}

/** An entry of this machine's OS keychain that holds a shared store's data key. */
export interface KeychainEntry {
  service: string;
  account: string;
  /** True when the entry already held the key (nothing was written to the keychain). */
  alreadyThere: boolean;
}

/** Options of {@link Loginkit.initStore}. */
export interface StoreInitOptions {
  /** Make a new random data key for a new store (and return it once). */
  generateKey?: boolean;
  /**
   * Save the store's data key in this machine's OS keychain (the new one with `generateKey`, else the one
   * given by LOGINKIT_DATA_KEY or its command, checked against the store first), so that this machine
   * needs neither; idempotent.
   */
  keychain?: boolean;
}

/**
 * Creates what a shared store needs (table, meta record with the schema version and the data key's
 * fingerprint); idempotent: an initialised store is left as it is, and the key this machine was given
 * is checked against it. With `keychain`, the data key is saved in this machine's OS keychain too; for a
 * new store that happens first, so a keychain that cannot be used leaves no store behind.
 */
export async function initSharedStore(
  url: string,
  source: StoreSelection['source'],
  options: CredentialStoreOptions,
  init: StoreInitOptions = {},
): Promise<StoreInitResult> {
  const parsed = parseSharedStoreUrl(url, whereOf(source));
  const keyOptions = { env: options.env, askPassphrase: options.askPassphrase, location: parsed.location };
  const driver = await openSharedDriver(parsed, options.env);
  try {
    await driver.initialise();
    const existing = await readMeta(driver);
    if (existing) {
      if (init.generateKey) {
        throw new ConfigError(
          `The shared store ${parsed.location} is already initialised with data key ${existing.keyId}; nothing was changed.\nA new key would leave its records unreadable: give machines the existing key instead.`,
        );
      }
      if (init.keychain) {
        refusePassphraseForKeychain(existing, parsed.location);
        const found = await findSharedKey(existing, keyOptions);
        try {
          return resultFor(parsed, existing, false, null, await keychainEntryFor(found, existing.keyId, parsed.location));
        } finally {
          found.key.fill(0);
        }
      }
      // A key given to this machine is checked now, rather than at its first sign-in.
      if (hasGivenDataKey(options.env) || options.env.LOGINKIT_PASSPHRASE) await sharedKeySource(existing, keyOptions);
      return resultFor(parsed, existing, false, null, null);
    }
    if (init.keychain && !init.generateKey && !hasGivenDataKey(options.env)) {
      throw new ConfigError(
        `store init --keychain saves the data key of the shared store ${parsed.location}, and there is none yet; nothing was changed.\nMake one with: loginkit store init --generate-key --keychain (or give it as LOGINKIT_DATA_KEY or LOGINKIT_DATA_KEY_COMMAND)`,
      );
    }
    const chosen = await keyForNewStore(keyOptions, init.generateKey === true);
    try {
      const keychain = init.keychain ? await keychainEntryFor({ key: chosen.key, origin: null }, chosen.meta.keyId, parsed.location) : null;
      const written = await driver.commit([{ key: META_KEY, expected: 0, data: JSON.stringify(chosen.meta) }]);
      if (!written) {
        // The key saved for this store will never be used: the other machine's store has its own.
        if (keychain && !keychain.alreadyThere) await forgetKeyInKeychain(chosen.meta.keyId).catch(() => undefined);
        throw new ConfigError(
          `Another machine initialised the shared store ${parsed.location} at the same time; nothing was changed.\nRun again.`,
        );
      }
      return resultFor(parsed, chosen.meta, true, init.generateKey ? chosen.key.toString('base64') : null, keychain);
    } finally {
      chosen.key.fill(0);
    }
  } finally {
    await driver.close().catch(() => undefined);
  }
}

/** The keychain entry of a store's key, saved unless the key was found there in the first place. */
async function keychainEntryFor(found: FoundKey, keyId: string, location: string): Promise<KeychainEntry> {
  const alreadyThere = found.origin === 'keychain' || !(await saveKeyInKeychain(found.key, keyId, location));
  return { service: KEYCHAIN_SERVICE, account: sharedKeychainAccount(keyId), alreadyThere };
}

/** A passphrase-protected store has no data key to keep in the keychain. */
function refusePassphraseForKeychain(meta: SharedMeta, location: string): void {
  if (meta.protection !== 'passphrase') return;
  throw new ConfigError(
    `The shared store ${location} is protected by a passphrase, not a data key: there is no key to save in the keychain; nothing was changed.\nGive this machine the passphrase (LOGINKIT_PASSPHRASE) instead.`,
  );
}

/** `loginkit store status` for a shared store: where, how protected, whether it opens with this machine's key. */
export async function inspectSharedStore(
  url: string,
  source: StoreSelection['source'],
  options: CredentialStoreOptions,
): Promise<StoreReport> {
  const parsed = parseSharedStoreUrl(url, whereOf(source));
  const report: StoreReport = {
    path: parsed.location,
    exists: false,
    backend: parsed.backend,
    protection: 'not created yet',
    selection: { choice: parsed.backend, source },
    key: null,
    entries: null,
    problem: null,
  };
  const driver = await openSharedDriver(parsed, options.env);
  try {
    const meta = await readMeta(driver);
    if (!meta) throw new ConfigError(`The shared store ${parsed.location} is not initialised.\nCreate it: loginkit store init`);
    report.exists = true;
    report.protection = PROTECTION_OF[meta.protection];
    const dataKey: SharedKeyReport = { dataKeyId: meta.keyId, foundIn: null };
    report.key = meta.kdf ? { kdf: `${meta.kdf.name} N=${meta.kdf.N} r=${meta.kdf.r} p=${meta.kdf.p}` } : dataKey;
    const store = createSharedStore(driver, {
      keySource: async (described) => {
        const source = await sharedKeySource(described, {
          env: options.env,
          askPassphrase: options.askPassphrase,
          location: parsed.location,
        });
        dataKey.foundIn = source.origin;
        if (source.origin === 'keychain') {
          dataKey.keychainService = KEYCHAIN_SERVICE;
          dataKey.keychainAccount = sharedKeychainAccount(described.keyId);
        }
        return source;
      },
    });
    report.entries = Object.keys(await store.read({ fresh: true })).length;
  } catch (error) {
    report.problem = error instanceof Error ? error.message : String(error);
    // Whether it exists, and how it is protected, is unknown: not "not created yet".
    if (error instanceof NetworkError && !report.exists) {
      report.exists = null;
      report.protection = 'unreachable';
    }
  } finally {
    await driver.close().catch(() => undefined);
  }
  return report;
}

/** The meta record, or undefined when the store has none yet (a missing table is an error: run `initialise` first). */
async function readMeta(driver: SharedDriver): Promise<SharedMeta | undefined> {
  const record = (await driver.loadAll()).find((row) => row.key === META_KEY);
  return record ? parseMeta(record, driver.location) : undefined;
}

function resultFor(
  parsed: { location: string; backend: 'postgres' | 'redis' },
  meta: SharedMeta,
  created: boolean,
  dataKey: string | null,
  keychain: KeychainEntry | null,
): StoreInitResult {
  return {
    location: parsed.location,
    backend: parsed.backend,
    created,
    protection: PROTECTION_OF[meta.protection],
    keyId: meta.keyId,
    dataKey,
    keychain,
  };
}

function whereOf(source: StoreSelection['source']): string {
  return source === 'config.json' ? '"store" in config.json' : source;
}
