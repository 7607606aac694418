import { join } from 'node:path';
import { LoginRequiredError } from './errors.js';
import { type Environment, resolveHome } from './home.js';
import type { LoginEvent } from './oauth/events.js';
import { DEFAULT_TIMEOUT_MS, type FetchLike, createHttp } from './oauth/http.js';
import type { AccountInfo } from './oauth/tokens.js';
import { type OAuthProviderEntry, writeProviderEntry } from './providers/config-file.js';
import { type OAuthProvider, findProvider, listProviders, validateProviderEntry } from './providers/registry.js';
import { type OAuthCredential, isAccessTokenUsable, toCredential } from './session/credential.js';
import { TokenSession } from './session/token-session.js';
import type { EntryStore, StoreInfo } from './store/entry-store.js';
import { createFileStore } from './store/file-store.js';
import { createMemoryStore } from './store/memory-store.js';
import { plaintextCodec } from './store/plaintext-codec.js';

/** Options of {@link createLoginkit}; every side effect can be replaced. */
export interface LoginkitOptions {
  /** Folder with config.json and the credential store. Default: `$LOGINKIT_HOME` or the platform's config folder. */
  home?: string;
  /** Environment to read settings from. Default: `process.env`. */
  env?: Environment;
  /** Fetch used for every request. Default: undici's fetch through `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. */
  fetch?: FetchLike;
  /** Opens a URL for the person. Default: `$BROWSER`, else the system browser. */
  openBrowser?: (url: string) => Promise<void>;
  /** Receives progress of sign-ins, for a UI to render. */
  onEvent?: (event: LoginEvent) => void;
  /** Clock in ms since the epoch. Default: `Date.now`. */
  now?: () => number;
  /** Bound on every network call, in ms. Default: 30 000. */
  timeoutMs?: number;
  /** Where credentials are kept: `memory`, or your own EntryStore. Default: the store file in `home`. */
  store?: 'memory' | EntryStore;
}

/** Options of one sign-in. */
export interface LoginOptions {
  /** How long to wait for the person, in ms. Default: 300 000. */
  timeoutMs?: number;
  /** Only announce the URL (event `authorization_url`); do not open a browser. */
  noBrowser?: boolean;
  /** Cancels the sign-in. */
  signal?: AbortSignal;
  /** Receives progress of this sign-in (in addition to the client's `onEvent`). */
  onEvent?: (event: LoginEvent) => void;
}

/** What a successful sign-in produced (no secrets). */
export interface LoginResult {
  provider: string;
  account: AccountInfo | undefined;
  scopes: readonly string[];
  /** ISO 8601, or null when the server gave no expiry. */
  expiresAt: string | null;
  store: StoreInfo;
}

/** One provider's state, as `loginkit status` shows it. */
export interface ProviderStatus {
  id: string;
  /** How the credential was obtained; null when there is none. */
  method: 'oauth' | null;
  loggedIn: boolean;
  /** Email, else subject, of the signed-in account. */
  account: string | null;
  scopes: readonly string[];
  /** ISO 8601 expiry of the access token, or null. */
  expiresAt: string | null;
  /** Whether the access token can be renewed without the person. */
  refreshable: boolean;
  /** Where the credential is kept, e.g. `/home/me/.config/loginkit/credentials.json (plaintext file)`. */
  store: string | null;
}

/** What `logout` did. */
export interface LogoutResult {
  provider: string;
  /** Whether a local credential was removed. */
  removed: boolean;
  /** `revoked`: the server confirmed; `unsupported`: it has no revocation endpoint; `failed`: it could not be reached or refused. */
  revocation: 'revoked' | 'unsupported' | 'failed' | 'not_signed_in';
  /** Why revocation failed, when it did. */
  revocationError?: string;
}

/** A provider known to this home. */
export interface ProviderSummary {
  id: string;
  displayName: string;
  issuer: string;
  clientId: string;
  scopes: readonly string[];
  redirectUri: string;
}

/** A loginkit client bound to one home folder. */
export interface Loginkit {
  readonly home: string;
  /** Where credentials are kept. */
  readonly store: StoreInfo;
  /** Signs in to a provider through the browser (Authorization Code + PKCE) and stores the tokens. */
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  /** A valid access token for the provider, refreshed first when it is due. Throws LoginRequiredError when there is none. */
  getToken(provider: string): Promise<string>;
  /** The state of one provider, or of every configured or stored one. */
  status(provider?: string): Promise<ProviderStatus[]>;
  /** Revokes the provider's tokens at the server (best effort, bounded) and removes them locally. */
  logout(provider: string): Promise<LogoutResult>;
  /** Logs out of every stored credential. */
  logoutAll(): Promise<LogoutResult[]>;
  /** Providers configured in this home. */
  providers(): Promise<ProviderSummary[]>;
  /** Adds or replaces a custom OAuth provider in config.json after validating it. */
  addProvider(id: string, entry: OAuthProviderEntry): Promise<ProviderSummary>;
}

const DEFAULT_LOGIN_TIMEOUT_MS = 300_000;
const REVOCATION_TIMEOUT_MS = 10_000;
/** Name of the credential store file inside the home folder. */
export const STORE_FILE = 'credentials.json';

/** Creates a loginkit client. Nothing is read or written until a method is called. */
export function createLoginkit(options: LoginkitOptions = {}): Loginkit {
  const env = options.env ?? process.env;
  const home = options.home ?? resolveHome(env);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http = createHttp({ fetch: options.fetch, env, timeoutMs });
  const store =
    options.store === 'memory'
      ? createMemoryStore()
      : (options.store ?? createFileStore(join(home, STORE_FILE), plaintextCodec));
  const session = new TokenSession({ store, http, timeoutMs, now });
  const openBrowser = options.openBrowser ?? (async (url: string) => (await import('./browser.js')).openSystemBrowser(url, env));
  const storeLabel = `${store.info.location} (${store.info.protection})`;

  const statusOf = (id: string, credential: OAuthCredential | undefined): ProviderStatus => {
    if (!credential) {
      return { id, method: null, loggedIn: false, account: null, scopes: [], expiresAt: null, refreshable: false, store: null };
    }
    const refreshable = credential.refreshToken !== undefined;
    return {
      id,
      method: 'oauth',
      loggedIn: refreshable || isAccessTokenUsable(credential, now()),
      account: credential.account?.email ?? (credential.account?.subject || null),
      scopes: credential.scopes,
      expiresAt: credential.expiresAt === null ? null : new Date(credential.expiresAt).toISOString(),
      refreshable,
      store: storeLabel,
    };
  };

  const logoutCredential = async (credential: OAuthCredential): Promise<LogoutResult> => {
    const { revokeToken } = await import('./oauth/grants.js');
    const connection = session.connectionFor(credential, REVOCATION_TIMEOUT_MS);
    const outcomes = [];
    // Refresh token first: revoking it usually ends the whole grant, access token included (RFC 7009 §2.1).
    if (credential.refreshToken) outcomes.push(await revokeToken(connection, credential.refreshToken, 'refresh_token'));
    outcomes.push(await revokeToken(connection, credential.accessToken, 'access_token'));
    const removed = await session.remove(credential.provider, credential.profile);
    const failed = outcomes.find((outcome) => outcome.outcome === 'failed');
    const revocation = failed ? 'failed' : outcomes.every((o) => o.outcome === 'unsupported') ? 'unsupported' : 'revoked';
    return { provider: credential.provider, removed, revocation, ...(failed?.error ? { revocationError: failed.error } : {}) };
  };

  return {
    home,
    store: store.info,

    async login(id, loginOptions = {}) {
      const provider = await findProvider(home, id);
      const { resolveServerMetadata } = await import('./oauth/server.js');
      const { runAuthorizationCodeFlow } = await import('./oauth/authorization-code.js');
      const metadata = await resolveServerMetadata(provider, http, timeoutMs);
      const tokens = await runAuthorizationCodeFlow({
        connection: { metadata, clientId: provider.clientId, http, timeoutMs },
        scopes: provider.scopes,
        redirectUri: provider.redirectUri,
        authorizeParams: provider.authorizeParams,
        openBrowser: loginOptions.noBrowser ? undefined : openBrowser,
        onEvent: (event) => {
          options.onEvent?.(event);
          loginOptions.onEvent?.(event);
        },
        signal: loginOptions.signal,
        timeoutMs: loginOptions.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS,
        now,
      });
      const credential = toCredential({ provider: id, profile: 'default', clientId: provider.clientId, server: metadata }, tokens);
      await session.save(credential);
      return {
        provider: id,
        account: tokens.account,
        scopes: tokens.scopes,
        expiresAt: tokens.expiresAt === null ? null : new Date(tokens.expiresAt).toISOString(),
        store: store.info,
      };
    },

    async getToken(id) {
      return (await session.freshCredential(id)).accessToken;
    },

    async status(id) {
      if (id !== undefined) return [statusOf(id, await session.credential(id))];
      const [configured, stored] = await Promise.all([listProviders(home), session.credentials()]);
      const ids = [...new Set([...configured.map((p) => p.id), ...stored.map((c) => c.provider)])].sort();
      return ids.map((providerId) => statusOf(providerId, stored.find((c) => c.provider === providerId)));
    },

    async logout(id) {
      const credential = await session.credential(id);
      if (!credential) return { provider: id, removed: false, revocation: 'not_signed_in' };
      return logoutCredential(credential);
    },

    async logoutAll() {
      const results: LogoutResult[] = [];
      for (const credential of await session.credentials()) results.push(await logoutCredential(credential));
      return results;
    },

    async providers() {
      return (await listProviders(home)).map(summarize);
    },

    async addProvider(id, entry) {
      const provider = validateProviderEntry(id, entry, join(home, 'config.json'));
      await writeProviderEntry(home, id, entry);
      return summarize(provider);
    },
  };
}

function summarize(provider: OAuthProvider): ProviderSummary {
  return {
    id: provider.id,
    displayName: provider.displayName,
    issuer: provider.issuer,
    clientId: provider.clientId,
    scopes: provider.scopes,
    redirectUri: provider.redirectUri,
  };
}

/** True when `error` means the person has to sign in again. */
export function isLoginRequired(error: unknown): error is LoginRequiredError {
  return error instanceof LoginRequiredError;
}
