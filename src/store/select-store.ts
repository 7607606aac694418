import { readFileSync } from 'node:fs';
import { ConfigError, StorageError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import { maskUrlCredentials } from '../shared/mask.js';
import type { Codec } from './codec.js';
import type { EntryStore, Protection } from './entry-store.js';
import { ENVELOPE_FORMAT, PROTECTION_OF, parseEnvelope } from './envelope.js';
import { createFileStore } from './file-store.js';
import type { PassphraseProvider } from './passphrase-key.js';
import { corruptStore, plaintextCodec } from './plaintext-codec.js';

/** What a person can ask for: `auto` (keychain when it works, else an announced plaintext file) or one backend. */
export const STORE_CHOICES = ['auto', 'keychain', 'passphrase', 'file'] as const;
export type StoreChoice = (typeof STORE_CHOICES)[number];
/** A backend that keeps a store file. */
export type StoreBackend = Exclude<StoreChoice, 'auto'>;

/** Which backend is asked for, and who asked: an explicit choice fails closed, `default` is `auto`. */
export interface StoreSelection {
  readonly choice: StoreChoice;
  readonly source: 'option' | 'LOGINKIT_STORE' | 'config.json' | 'default';
}

/** Everything needed to open the store file of one home. */
export interface CredentialStoreOptions {
  /** The store file. */
  readonly path: string;
  /** Where LOGINKIT_STORE and LOGINKIT_PASSPHRASE are read. */
  readonly env: EnvVars;
  /** An explicit choice (API option, `--store`); wins over LOGINKIT_STORE and config.json. */
  readonly choice?: StoreChoice | undefined;
  /** The `store` setting of config.json, when there is one. */
  readonly readSetting?: (() => Promise<{ value: string; file: string } | undefined>) | undefined;
  /** Asked for a passphrase when LOGINKIT_PASSPHRASE is not set in `env`. */
  readonly askPassphrase?: PassphraseProvider | undefined;
  /**
   * Told what the person should know about where credentials go (the library never prints): with `auto`
   * and no usable keychain, that a plaintext store is about to be created, why, and how to choose otherwise.
   */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** Parses a store choice from a setting, or says exactly what is wrong with it. */
export function parseStoreChoice(value: string, where: string): StoreChoice {
  const choice = STORE_CHOICES.find((candidate) => candidate === value.trim().toLowerCase());
  if (!choice) {
    throw new ConfigError(
      `${where} must be one of ${STORE_CHOICES.join(', ')}, not "${maskUrlCredentials(value)}".\nFor a store shared by a fleet, give a postgres:// or redis:// URL.`,
    );
  }
  return choice;
}

/** The backend asked for: the explicit option, else LOGINKIT_STORE, else config.json, else `auto`. */
export async function resolveStoreSelection(options: CredentialStoreOptions): Promise<StoreSelection> {
  if (options.choice !== undefined) return { choice: options.choice, source: 'option' };
  const variable = options.env.LOGINKIT_STORE;
  if (variable) return { choice: parseStoreChoice(variable, 'LOGINKIT_STORE'), source: 'LOGINKIT_STORE' };
  const setting = await options.readSetting?.();
  if (setting !== undefined) return { choice: parseStoreChoice(setting.value, `"store" in ${setting.file}`), source: 'config.json' };
  return { choice: 'auto', source: 'default' };
}

/** Which backend wrote a store file, from its contents: the file, not the settings, decides how to read it. */
export function detectBackend(bytes: Uint8Array, path: string): StoreBackend {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corruptStore(path, 'is truncated or not valid JSON');
  }
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const record = json as Record<string, unknown>;
    if (record.format === ENVELOPE_FORMAT) {
      const { protection } = parseEnvelope(bytes, path).header;
      // Only shared stores (one envelope per database record) use a bare data key.
      if (protection === 'data-key') throw corruptStore(path, 'holds a shared-store record, not a store file');
      return protection;
    }
    if ('entries' in record) return 'file';
  }
  throw corruptStore(path, 'does not have the shape of a loginkit store');
}

/** The protection a backend gives. */
export function protectionOf(backend: StoreBackend): Protection {
  return backend === 'file' ? 'plaintext file' : PROTECTION_OF[backend];
}

/**
 * A codec for one backend, for the store file at `options.path`. The encrypted ones are loaded only when
 * used, so that reading a plaintext store (the `loginkit token` start-up path) never loads node:crypto or
 * the keychain's native module.
 */
export async function codecFor(backend: StoreBackend, options: CredentialStoreOptions): Promise<Codec> {
  if (backend === 'file') return plaintextCodec;
  const { createEncryptedCodec } = await import('./encrypted-codec.js');
  if (backend === 'keychain') {
    const { createKeychainKeySource } = await import('./keychain-key.js');
    return createEncryptedCodec(createKeychainKeySource(options.path));
  }
  const { createPassphraseKeySource } = await import('./passphrase-key.js');
  return createEncryptedCodec(
    createPassphraseKeySource(async (request) => options.env.LOGINKIT_PASSPHRASE ?? (await options.askPassphrase?.(request))),
  );
}

/**
 * The credential store of a home: one file, read with whichever backend wrote it (its contents say which),
 * and created with the backend asked for. `auto` creates a keychain store when a real round trip to the
 * keychain works within its time limit, else a plaintext file, announced through `onWarning` before the
 * file is written. An explicit choice fails closed: it never falls back, and a store file written by
 * another backend is refused with the command that moves it.
 */
export function createCredentialStore(given: CredentialStoreOptions): EntryStore {
  // config.json is consulted both for a shared store's URL and for the local backend: read it once.
  let setting: ReturnType<NonNullable<CredentialStoreOptions['readSetting']>> | undefined;
  const readSetting = given.readSetting;
  const options = readSetting ? { ...given, readSetting: () => (setting ??= readSetting()) } : given;
  const file = createFileStore(options.path, createFollowingCodec(options));
  const explicit = options.choice === undefined ? sharedStoreUrlOf(options.env.LOGINKIT_STORE) : undefined;
  // A URL in LOGINKIT_STORE is known now; one in config.json only once the file is read (on first use).
  if (explicit !== undefined) return openSharedStoreLazily(explicit, 'LOGINKIT_STORE', options);
  if (options.choice !== undefined || options.env.LOGINKIT_STORE) return file;
  return createSettingFollowingStore(file, options);
}

/**
 * The shared store's URL when the store setting (LOGINKIT_STORE, else config.json, unless an explicit
 * local choice was given) is a postgres:// or redis:// URL, with where it came from.
 */
export async function resolveSharedStoreUrl(
  options: CredentialStoreOptions,
): Promise<{ url: string; source: StoreSelection['source'] } | undefined> {
  if (options.choice !== undefined) return undefined;
  if (options.env.LOGINKIT_STORE) {
    const url = sharedStoreUrlOf(options.env.LOGINKIT_STORE);
    return url === undefined ? undefined : { url, source: 'LOGINKIT_STORE' };
  }
  const url = sharedStoreUrlOf((await options.readSetting?.())?.value);
  return url === undefined ? undefined : { url, source: 'config.json' };
}

/** A postgres:// or redis:// URL given as the store setting, or undefined for a local choice. */
export function sharedStoreUrlOf(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed && SHARED_STORE_URL.test(trimmed) ? trimmed : undefined;
}

/** The schemes of the shared (fleet) stores; see shared-store.ts. */
const SHARED_STORE_URL = /^(postgres|postgresql|redis|rediss):\/\//i;

/**
 * The shared store at `url`, its code (and the database client) loaded on first use only, so that a local
 * store's `loginkit token` loads nothing more than before.
 */
function openSharedStoreLazily(url: string, source: StoreSelection['source'], options: CredentialStoreOptions): EntryStore {
  let opened: Promise<EntryStore> | undefined;
  const open = (): Promise<EntryStore> =>
    (opened ??= import('./shared-open.js').then(({ openSharedStore }) => openSharedStore(url, source, options)));
  const info = { backend: sharedBackendName(url), protection: 'not created yet' as Protection, location: maskUrlCredentials(url) };
  let resolved: EntryStore | undefined;
  return {
    get info() {
      return resolved?.info ?? info;
    },
    // Once opened, calls go straight through: an extra await per call is a tenth of a hot getToken().
    read: (readOptions) => (resolved ? resolved.read(readOptions) : open().then((store) => (resolved = store).read(readOptions))),
    update: async (change) => (resolved ??= await open()).update(change),
    withLock: async (name, task, lockOptions) => (resolved ??= await open()).withLock(name, task, lockOptions),
    // Nothing to close when the store was never opened; one being opened is closed once it is.
    close: async () => (opened ? (await opened.catch(() => undefined))?.close?.() : undefined),
  };
}

/** `postgres` or `redis`, from a shared store URL. */
export function sharedBackendName(url: string): 'postgres' | 'redis' {
  return /^redis/i.test(url) ? 'redis' : 'postgres';
}

/**
 * The local store file, unless config.json's `store` names a shared store's URL: then that store. Decided
 * on first use, when config.json is read anyway.
 */
function createSettingFollowingStore(file: EntryStore, options: CredentialStoreOptions): EntryStore {
  let chosen: Promise<EntryStore> | undefined;
  let resolved: EntryStore | undefined;
  const choose = async (): Promise<EntryStore> => {
    const setting = await options.readSetting?.();
    const url = sharedStoreUrlOf(setting?.value);
    return url === undefined ? file : openSharedStoreLazily(url, 'config.json', options);
  };
  const target = async (): Promise<EntryStore> => (resolved ??= await (chosen ??= choose()));
  return {
    get info() {
      return (resolved ?? file).info;
    },
    read: (readOptions) => (resolved ? resolved.read(readOptions) : target().then((store) => store.read(readOptions))),
    update: async (change) => (await target()).update(change),
    withLock: async (name, task, lockOptions) => (await target()).withLock(name, task, lockOptions),
    close: async () => (chosen ? (await chosen.catch(() => undefined))?.close?.() : undefined),
  };
}

function createFollowingCodec(options: CredentialStoreOptions): Codec {
  const codecs = new Map<StoreBackend, Promise<Codec>>();
  let selection: Promise<StoreSelection> | undefined;
  let seen: StoreBackend | undefined;

  const select = (): Promise<StoreSelection> => (selection ??= resolveStoreSelection(options));
  const codec = (backend: StoreBackend): Promise<Codec> => {
    let found = codecs.get(backend);
    if (!found) {
      found = codecFor(backend, options);
      codecs.set(backend, found);
    }
    return found;
  };
  // What the info shows before anything was read: the file's own backend, else an explicit choice.
  const known = (): StoreBackend | undefined => {
    if (seen) return seen;
    try {
      return detectBackend(readFileSync(options.path), options.path);
    } catch {
      const explicit = options.choice ?? options.env.LOGINKIT_STORE?.trim().toLowerCase();
      return STORE_CHOICES.find((choice) => choice === explicit && choice !== 'auto') as StoreBackend | undefined;
    }
  };

  const backendForNewStore = async (path: string): Promise<StoreBackend> => {
    const { choice } = await select();
    if (choice !== 'auto') return choice;
    const { probeKeychain } = await import('./keychain-key.js');
    const probe = await probeKeychain(path);
    if (probe.available) return 'keychain';
    options.onWarning?.(
      `The OS keychain cannot be used (${probe.reason}), so credentials will be kept in a plaintext file readable only by you: ${path}\n` +
        'To encrypt them with a passphrase instead, set LOGINKIT_STORE=passphrase (and LOGINKIT_PASSPHRASE, or answer the prompt); to keep the plaintext file without this warning, set LOGINKIT_STORE=file.',
    );
    return 'file';
  };

  return {
    get backend() {
      return known() ?? 'auto';
    },
    get protection() {
      const backend = known();
      return backend ? protectionOf(backend) : 'not created yet';
    },

    async decode(bytes, path) {
      const backend = detectBackend(bytes, path);
      const { choice, source } = await select();
      if (choice !== 'auto' && choice !== backend) throw mismatch(path, backend, choice, source);
      seen = backend;
      return (await codec(backend)).decode(bytes, path);
    },

    async encode(entries, target) {
      const backend = target.current ? detectBackend(target.current, target.path) : await backendForNewStore(target.path);
      const bytes = await (await codec(backend)).encode(entries, target);
      seen = backend;
      return bytes;
    },
  };
}

function mismatch(path: string, backend: StoreBackend, choice: StoreBackend, source: StoreSelection['source']): StorageError {
  const asker = source === 'option' ? 'the store option (--store)' : source;
  return new StorageError(
    path,
    `The credential store ${path} is a ${describeBackend(backend)} store, but ${asker} asks for ${choice}; nothing was changed.\nMove every credential: loginkit store migrate --to ${choice} (or stop asking for ${choice})`,
  );
}

/** A backend in a few words. */
export function describeBackend(backend: StoreBackend): string {
  return backend === 'file' ? 'plaintext file' : backend === 'keychain' ? 'keychain-encrypted' : 'passphrase-encrypted';
}
