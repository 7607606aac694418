import { join } from 'node:path';
import { DEFAULT_TIMEOUT_MS, type FetchLike, createHttp } from './net/http.js';
import { readConfigFile } from './providers/config-file.js';
import { type ProviderLookup, createProviderLookup } from './providers/registry.js';
import { DEFAULT_RETRY_POLICY } from './session/retry.js';
import { TokenSession } from './session/token-session.js';
import type { LoginEvent } from './sign-in/events.js';
import type { LoginEnvironment } from './sign-in/login-environment.js';
import { type EnvVars, resolveHome } from './shared/home.js';
import type { EntryStore } from './store/entry-store.js';
import { createMemoryStore } from './store/memory-store.js';
import type { PassphraseProvider } from './store/passphrase-key.js';
import { type CredentialStoreOptions, type StoreChoice, createCredentialStore } from './store/select-store.js';

/** Options of `createLoginkit`; every side effect can be replaced. */
export interface LoginkitOptions {
  /** Folder with config.json and the credential store. Default: `$LOGINKIT_HOME` or the platform's config folder. */
  home?: string | undefined;
  /** Environment to read settings from. Default: `process.env`. */
  env?: EnvVars | undefined;
  /** Fetch used for every request. Default: fetch through the proxy that `env`'s `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` name. */
  fetch?: FetchLike | undefined;
  /** Opens a URL for the person. Default: `$BROWSER`, else the system browser. */
  openBrowser?: ((url: string) => Promise<void>) | undefined;
  /**
   * Receives progress of sign-ins, for a UI to render. Without one (here or on the sign-in), a sign-in that
   * needs a person writes its instructions to stderr, as the CLI does; the sign-in's `quiet` turns that off.
   */
  onEvent?: ((event: LoginEvent) => void) | undefined;
  /**
   * Told about problems that were worked around, e.g. a failed refresh while the current token is still
   * valid, or a store that fell back to a plaintext file. Default: `process.emitWarning` (type
   * `LoginkitWarning`), so that no such problem is ever silent.
   */
  onWarning?: ((message: string) => void) | undefined;
  /** Clock in ms since the epoch. Default: `Date.now`. */
  now?: (() => number) | undefined;
  /** Bound on every network call, in ms. Default: `$LOGINKIT_HTTP_TIMEOUT` seconds, else 30 000. */
  timeoutMs?: number | undefined;
  /**
   * Where new credentials are kept: `auto` (the OS keychain when it works, else a plaintext file, announced
   * through `onWarning`), `keychain`, `passphrase`, `file` (an explicit choice never falls back), `memory`,
   * or your own EntryStore. Default: `$LOGINKIT_STORE`, else `store` in config.json, else `auto`. An
   * existing store file is read with the backend that wrote it.
   */
  store?: StoreChoice | 'memory' | EntryStore | undefined;
  /** Supplies the passphrase of a `passphrase` store when `LOGINKIT_PASSPHRASE` is not set in `env`. */
  askPassphrase?: PassphraseProvider | undefined;
  /** Where this process runs (SSH, WSL, container, CI, display), which decides how `login` signs in. Default: detected from `env`. */
  environment?: LoginEnvironment | undefined;
  /** The working directory that project rules (`profileRules`, `.loginkit.json`) are matched against. Default: `process.cwd()`. */
  cwd?: string | undefined;
}

/** Name of the credential store file inside the home folder. */
export const STORE_FILE = 'credentials.json';

/** What every feature works with: settings, side effects, the store, the token session and the providers. */
export interface LoginkitContext {
  readonly env: EnvVars;
  readonly home: string;
  readonly now: () => number;
  readonly timeoutMs: number;
  /** Fetch bounded by `timeoutMs` for the whole exchange, with errors that name the host or proxy. */
  readonly http: FetchLike;
  /** The application's own fetch, when it gave one. */
  readonly baseFetch: FetchLike | undefined;
  readonly store: EntryStore;
  /** How the store file is opened; undefined when the application gave another store (`memory`, its own). */
  readonly storeFile: CredentialStoreOptions | undefined;
  readonly session: TokenSession;
  readonly providers: ProviderLookup;
  /** Told what the person should know; never silent by default (see {@link createContext}). */
  readonly warn: (message: string) => void;
  /** The application's `onEvent`. */
  readonly emit: (event: LoginEvent) => void;
  /** Whether the application gave an `onEvent` (else a sign-in writes its instructions to stderr itself). */
  readonly listensToEvents: boolean;
  /** The application's `openBrowser`, when it gave one. */
  readonly openBrowser: ((url: string) => Promise<void>) | undefined;
  /** The application's view of where this process runs, when it gave one. */
  readonly environment: LoginEnvironment | undefined;
  /** The working directory project rules are matched against. */
  readonly cwd: string;
}

/** Builds the context once per client. Nothing is read or written until a feature asks. */
export function createContext(options: LoginkitOptions): LoginkitContext {
  const env = options.env ?? process.env;
  const home = options.home ?? resolveHome(env);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? timeoutFromEnvironment(env) ?? DEFAULT_TIMEOUT_MS;
  const warn = options.onWarning ?? emitProcessWarning;
  const http = createHttp({ fetch: options.fetch, env, timeoutMs });
  const storeFile: CredentialStoreOptions | undefined =
    options.store === 'memory' || typeof options.store === 'object'
      ? undefined
      : {
          path: join(home, STORE_FILE),
          env,
          choice: options.store,
          readSetting: async () => {
            const config = await readConfigFile(home);
            return config.store === undefined ? undefined : { value: config.store, file: config.path };
          },
          askPassphrase: options.askPassphrase,
          onWarning: warn,
        };
  const store = storeFile
    ? createCredentialStore(storeFile)
    : options.store === 'memory'
      ? createMemoryStore()
      : (options.store as EntryStore);
  return {
    env,
    home,
    now,
    timeoutMs,
    http,
    baseFetch: options.fetch,
    store,
    storeFile,
    session: new TokenSession({ store, http, timeoutMs, now, retry: DEFAULT_RETRY_POLICY, onWarning: warn }),
    providers: createProviderLookup(home),
    warn,
    emit: options.onEvent ?? (() => undefined),
    listensToEvents: options.onEvent !== undefined,
    openBrowser: options.openBrowser,
    environment: options.environment,
    cwd: options.cwd ?? process.cwd(),
  };
}

/** The default `onWarning`: Node prints it on stderr (`--no-warnings` silences it; `process.on('warning')` sees it). */
function emitProcessWarning(message: string): void {
  process.emitWarning(message, { type: 'LoginkitWarning', code: 'LOGINKIT_WARNING' });
}

/** `LOGINKIT_HTTP_TIMEOUT` (seconds) as milliseconds, when set to a positive number. */
function timeoutFromEnvironment(env: EnvVars): number | undefined {
  const seconds = Number(env.LOGINKIT_HTTP_TIMEOUT);
  return env.LOGINKIT_HTTP_TIMEOUT && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}
