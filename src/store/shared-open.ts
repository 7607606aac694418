import { ConfigError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import { SHARED_STORE_TIMEOUT_MS } from './limits.js';
import { maskUrlCredentials } from '../shared/mask.js';
import type { EntryStore } from './entry-store.js';
import type { CredentialStoreOptions, StoreSelection } from './select-store.js';
import { targetOf } from './shared-errors.js';
import { sharedKeySource } from './shared-keys.js';
import { type SharedDriver, createSharedStore } from './shared-store.js';

/** A parsed shared store URL: which backend, and the URL as it may be shown. */
export interface SharedStoreUrl {
  readonly backend: 'postgres' | 'redis';
  readonly url: string;
  readonly location: string;
}

/**
 * Checks a shared store URL: postgres:// or postgresql:// with a host and a database, or redis:// or
 * rediss:// with a host and an optional database number. The message of a refusal never repeats the URL,
 * which may carry a password.
 */
export function parseSharedStoreUrl(text: string, where: string): SharedStoreUrl {
  const url = text.trim();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      `${where} is not a valid URL.\nWrite it as postgres://user:password@host:5432/database or redis://:password@host:6379/0`,
    );
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  const backend = scheme === 'redis' || scheme === 'rediss' ? 'redis' : 'postgres';
  const location = maskUrlCredentials(url);
  if (!parsed.hostname) throw new ConfigError(`${where} (${location}) names no host.`);
  if (backend === 'postgres' && parsed.pathname.length <= 1) {
    throw new ConfigError(`${where} (${location}) names no database.\nWrite it as postgres://user:password@host:5432/database`);
  }
  if (backend === 'redis' && !/^\/?(\d{1,2})?$/.test(parsed.pathname)) {
    throw new ConfigError(`${where} (${location}) must end with a database number, like redis://host:6379/0`);
  }
  return { backend, url, location };
}

/**
 * Opens the driver for a shared store URL; its client library is loaded here, only when such a URL is
 * used. `LOGINKIT_STORE_TIMEOUT` (seconds) replaces the default bound on connecting and on each query.
 */
export async function openSharedDriver(store: SharedStoreUrl, env: EnvVars): Promise<SharedDriver> {
  const seconds = Number(env.LOGINKIT_STORE_TIMEOUT);
  const timeoutMs = env.LOGINKIT_STORE_TIMEOUT && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : SHARED_STORE_TIMEOUT_MS;
  const target = targetOf(new URL(store.url), store.location, timeoutMs);
  if (store.backend === 'redis') return (await import('./redis-store.js')).createRedisDriver(store.url, target);
  return (await import('./postgres-store.js')).createPostgresDriver(store.url, target);
}

/** The shared store named by `url` (from `source`), with its records decrypted by the data key this machine was given. */
export async function openSharedStore(url: string, source: StoreSelection['source'], options: CredentialStoreOptions): Promise<EntryStore> {
  const store = parseSharedStoreUrl(url, source === 'config.json' ? '"store" in config.json' : source);
  const driver = await openSharedDriver(store, options.env);
  return createSharedStore(driver, {
    keySource: (meta) => sharedKeySource(meta, { env: options.env, askPassphrase: options.askPassphrase, location: store.location }),
    onWarning: options.onWarning,
  });
}
