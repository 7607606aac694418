import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { AsyncEntry } from '@napi-rs/keyring';
import { StorageError } from '../errors.js';
import { type KeySource, keyFingerprint, randomDataKey } from './encrypted-codec.js';
import { KEYCHAIN_SERVICE, KEYCHAIN_TIMEOUT_MS } from './limits.js';
import { markDamaged } from './plaintext-codec.js';

/** The OS keychain cannot be used right now; `reason` says why in words for a person ("no D-Bus session …"). */
export class KeychainUnavailableError extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`The OS keychain cannot be used: ${reason}`, options);
    this.name = 'KeychainUnavailableError';
  }
}

/**
 * The keychain account that holds a store's data key: the store's absolute path (two homes never share an
 * entry) and the key's fingerprint (a new key never overwrites an old one that a file may still need).
 */
export function keychainAccount(storePath: string, keyId: string): string {
  return `${resolve(storePath)}#${keyId}`;
}

/** Data keys kept in the OS keychain, one entry per key, for the store at `storePath`. */
export function createKeychainKeySource(storePath: string): KeySource {
  return {
    kind: 'keychain',

    async unlock(header, path) {
      const account = keychainAccount(storePath, header.keyId);
      let key: Buffer | undefined;
      try {
        key = await readKeychainSecret(account);
      } catch (error) {
        throw unavailable(path, 'read the key of', error, 'Fix that and try again: this store cannot be opened without its key.');
      }
      if (!key) {
        throw markDamaged(
          new StorageError(
            path,
            `The key of the credential store ${path} is not in the OS keychain (service "${KEYCHAIN_SERVICE}", account "${account}"); the file was left untouched.\nRestore that keychain entry, or move the store aside and sign in again: loginkit store reset`,
          ),
        );
      }
      if (keyFingerprint(key) !== header.keyId) {
        key.fill(0);
        throw markDamaged(
          new StorageError(
            path,
            `The OS keychain entry "${account}" does not hold the key of ${path}; the file was left untouched.\nRestore that keychain entry, or move the store aside and sign in again: loginkit store reset`,
          ),
        );
      }
      return key;
    },

    async create(path) {
      const key = randomDataKey();
      const keyId = keyFingerprint(key);
      try {
        await writeKeychainSecret(keychainAccount(storePath, keyId), key);
      } catch (error) {
        key.fill(0);
        throw unavailable(
          path,
          'save a new key for',
          error,
          'Fix that and try again, or choose another backend: LOGINKIT_STORE=passphrase (or file)',
        );
      }
      return { key, keyId };
    },
  };
}

/** Removes a data key from the keychain; true when there was one. */
export async function deleteKeychainKey(storePath: string, keyId: string): Promise<boolean> {
  return deleteKeychainSecret(keychainAccount(storePath, keyId));
}

/** The outcome of {@link probeKeychain}. */
export type KeychainProbe = { available: true } | { available: false; reason: string };

/**
 * Checks that the keychain works for real, within {@link KEYCHAIN_TIMEOUT_MS} in all: writes a throwaway
 * entry, reads it back and removes it.
 */
export async function probeKeychain(storePath: string): Promise<KeychainProbe> {
  const value = randomBytes(16);
  try {
    const same = await keychainCall(`${resolve(storePath)}#probe`, async (entry, signal) => {
      await entry.setSecret(value, signal);
      const read = await entry.getSecret(signal);
      await entry.deleteCredential(signal);
      return read !== null && Buffer.from(read).equals(value);
    });
    return same ? { available: true } : { available: false, reason: 'it did not return what was written to it' };
  } catch (error) {
    return { available: false, reason: keychainFailureReason(error) };
  }
}

/**
 * The secret of `account` (service {@link KEYCHAIN_SERVICE}), or undefined when there is none; bounded by
 * {@link KEYCHAIN_TIMEOUT_MS}. A KeychainUnavailableError says why the keychain cannot be used.
 */
export async function readKeychainSecret(account: string): Promise<Buffer | undefined> {
  const secret = await keychainCall(account, (entry, signal) => entry.getSecret(signal));
  if (secret === null) return undefined;
  const key = Buffer.from(secret);
  secret.fill(0);
  return key;
}

/** Saves `key` as the secret of `account`, replacing any; bounded like {@link readKeychainSecret}. */
export async function writeKeychainSecret(account: string, key: Buffer): Promise<void> {
  const copy = new Uint8Array(key);
  try {
    await keychainCall(account, (entry, signal) => entry.setSecret(copy, signal));
  } finally {
    copy.fill(0);
  }
}

/** Removes the secret of `account`; true when there was one. Bounded like {@link readKeychainSecret}. */
export async function deleteKeychainSecret(account: string): Promise<boolean> {
  return keychainCall(account, (entry, signal) => entry.deleteCredential(signal));
}

function unavailable(path: string, action: string, error: unknown, fix: string): StorageError {
  return new StorageError(
    path,
    `Cannot ${action} the credential store ${path} in the OS keychain: ${keychainFailureReason(error)}; nothing was changed.\n${fix}`,
    {
      cause: error,
    },
  );
}

/** Why a keychain call failed, in words for a person ("there is no D-Bus session …", "it is locked …"). */
export function keychainFailureReason(error: unknown): string {
  return error instanceof KeychainUnavailableError ? error.reason : describeKeyringError(error);
}

type Keyring = typeof import('@napi-rs/keyring');
let keyring: Keyring | undefined;
const entries = new Map<string, AsyncEntry>();
const busChecks = new Map<string, Promise<void>>();

/**
 * Runs one keychain operation within the time limit. The native module is loaded only now (the `file`
 * backend never pays for it). Its constructor talks to D-Bus on the main thread and a dead bus would block
 * it forever, so on Linux the session bus is first checked from JS, asynchronously and bounded; everything
 * after runs on libuv's pool (AsyncEntry) and is raced against the deadline.
 */
async function keychainCall<T>(account: string, operation: (entry: AsyncEntry, signal: AbortSignal) => Promise<T>): Promise<T> {
  const started = Date.now();
  const bus = usesDBus() ? checkSessionBus(process.env) : Promise.resolve();
  bus.catch(() => undefined);
  const module = loadKeyring();
  await bus;
  let entry = entries.get(account);
  if (!entry) {
    try {
      entry = new module.AsyncEntry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });
    } catch (error) {
      throw new KeychainUnavailableError(describeKeyringError(error), { cause: error });
    }
    entries.set(account, entry);
  }
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        abort.abort();
        reject(
          new KeychainUnavailableError(
            `it did not answer within ${KEYCHAIN_TIMEOUT_MS / 1000} s (is it locked, or waiting for an unlock prompt?)`,
          ),
        );
      },
      Math.max(1, KEYCHAIN_TIMEOUT_MS - (Date.now() - started)),
    );
  });
  const work = operation(entry, abort.signal).catch((error: unknown) => {
    throw new KeychainUnavailableError(describeKeyringError(error), { cause: error });
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The package that holds the prebuilt binary for this platform (glibc assumed on Linux). Requiring it directly
 * skips the generic loader's libc detection and failed lookups, a few ms of `token`'s cold start; when it is
 * not there (musl, another platform) the generic loader decides.
 */
const NATIVE_PACKAGES: Readonly<Record<string, string>> = {
  'darwin-arm64': 'darwin-arm64',
  'darwin-x64': 'darwin-x64',
  'win32-x64': 'win32-x64-msvc',
  'win32-arm64': 'win32-arm64-msvc',
  'win32-ia32': 'win32-ia32-msvc',
  'linux-x64': 'linux-x64-gnu',
  'linux-arm64': 'linux-arm64-gnu',
  'linux-arm': 'linux-arm-gnueabihf',
  'linux-riscv64': 'linux-riscv64-gnu',
  'freebsd-x64': 'freebsd-x64',
};

function loadKeyring(): Keyring {
  if (keyring) return keyring;
  // createRequire rather than import(): the CommonJS loader is faster, and this is on `token`'s cold path.
  const load = createRequire(import.meta.url);
  const native = NATIVE_PACKAGES[`${process.platform}-${process.arch}`];
  try {
    keyring = native ? (load(`@napi-rs/keyring-${native}`) as Keyring) : undefined;
  } catch {
    // not installed, or not loadable here: the generic loader below finds the right one or explains
  }
  try {
    keyring ??= load('@napi-rs/keyring') as Keyring;
  } catch (error) {
    throw new KeychainUnavailableError(
      `its native module (@napi-rs/keyring) cannot be loaded on ${process.platform}-${process.arch} (${(error as Error).message.split('\n')[0]})`,
      { cause: error },
    );
  }
  return keyring;
}

function usesDBus(): boolean {
  return process.platform !== 'darwin' && process.platform !== 'win32';
}

/** Resolves when the session bus answers the first step of a D-Bus handshake; rejects with the reason otherwise. */
function checkSessionBus(env: NodeJS.ProcessEnv): Promise<void> {
  const socketPath = sessionBusSocket(env);
  if (socketPath === null) {
    return Promise.reject(
      new KeychainUnavailableError('there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service'),
    );
  }
  // Another transport (tcp, launchd…): leave it to the native module.
  if (socketPath === undefined) return Promise.resolve();
  let check = busChecks.get(socketPath);
  if (!check) {
    check = greetBus(socketPath);
    busChecks.set(socketPath, check);
  }
  return check;
}

/** The bus's unix socket (abstract ones start with NUL), undefined for another transport, null for no session at all. */
function sessionBusSocket(env: NodeJS.ProcessEnv): string | undefined | null {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (!address) {
    // What libdbus itself falls back to.
    const userBus = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'bus') : undefined;
    return userBus && isSocket(userBus) ? userBus : null;
  }
  for (const candidate of address.split(';')) {
    const colon = candidate.indexOf(':');
    if (candidate.slice(0, colon) !== 'unix') continue;
    const params = new Map(
      candidate
        .slice(colon + 1)
        .split(',')
        .map((pair) => {
          const equals = pair.indexOf('=');
          return [
            pair.slice(0, equals),
            pair.slice(equals + 1).replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
          ];
        }),
    );
    const path = params.get('path');
    if (path) return path;
    const abstract = params.get('abstract');
    if (abstract) return `\0${abstract}`;
  }
  return undefined;
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** Opens the bus socket and sends AUTH; any answer proves the bus daemon is alive. */
function greetBus(socketPath: string): Promise<void> {
  const shown = socketPath.replace(/^\0/, '@');
  return new Promise((resolvePromise, reject) => {
    let done = false;
    let received = '';
    const socket = connect({ path: socketPath });
    const finish = (error?: KeychainUnavailableError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolvePromise();
    };
    const timer = setTimeout(
      () => finish(new KeychainUnavailableError(`the D-Bus session bus at ${shown} did not answer within ${KEYCHAIN_TIMEOUT_MS / 1000} s`)),
      KEYCHAIN_TIMEOUT_MS,
    );
    const uid = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
    socket.setEncoding('latin1');
    socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\r\n')) finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(new KeychainUnavailableError(`there is no D-Bus session (cannot connect to ${shown}: ${error.code ?? error.message})`)),
    );
    socket.on('close', () => finish(new KeychainUnavailableError(`the D-Bus session bus at ${shown} closed the connection`)));
  });
}

/** A short reason for a keyring failure, in words for a person. */
function describeKeyringError(error: unknown): string {
  if (error instanceof KeychainUnavailableError) return error.reason;
  const message = error instanceof Error ? error.message : String(error);
  if (/DBUS_SESSION_BUS_ADDRESS|autolaunch/i.test(message))
    return 'there is no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service';
  if (/ServiceUnknown|not provided by any \.service|org\.freedesktop\.secrets/i.test(message)) {
    return 'no Secret Service is running on the D-Bus session (install and start gnome-keyring or KeePassXC)';
  }
  if (/prompt was dismissed|locked/i.test(message)) return 'it is locked (unlock it, e.g. by logging in to the desktop, then try again)';
  if (/no result found/i.test(message))
    return 'the Secret Service has no default keyring to keep it in (create one, e.g. by logging in to the desktop once)';
  if (/AccessDenied|access denied|not permitted/i.test(message)) return 'access to it was denied';
  if (/Did not receive a reply|timed? ?out/i.test(message)) return 'it did not answer in time';
  return message.split('\n')[0] ?? 'unknown error';
}
