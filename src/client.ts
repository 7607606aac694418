import { join } from 'node:path';
import { ConfigError, LoginRequiredError } from './errors.js';
import { type Environment, resolveHome } from './home.js';
import type { LoginEnvironment, LoginMethod } from './environment.js';
import type { LoginEvent } from './oauth/events.js';
import { DEFAULT_TIMEOUT_MS, type FetchLike, createHttp } from './oauth/http.js';
import type { AccountInfo } from './oauth/tokens.js';
import { maskSecret } from './importers/mask.js';
import type { ImportSource, Skipped } from './importers/types.js';
import { type ProviderEntry, readConfigFile, writeProviderEntry, writeStoreSetting } from './providers/config-file.js';
import type { ServerMetadata } from './oauth/server.js';
import { type OAuthProvider, type Provider, createProviderLookup, validateProviderEntry } from './providers/registry.js';
import { apiKeyFromEnvironment, apiKeyHeaders, checkApiKeyFormat, verifyApiKey } from './session/api-keys.js';
import { createAuthenticatedFetch } from './session/authenticated-fetch.js';
import { type Credential, isAccessTokenUsable, profileProblem, toCredential } from './session/credential.js';
import { DEFAULT_RETRY_POLICY } from './session/retry.js';
import { TokenSession } from './session/token-session.js';
import type { EntryStore, Protection, StoreInfo } from './store/entry-store.js';
import type { MigrateOptions, MigrationResult, ResetResult, StoreReport } from './store/admin.js';
import { createMemoryStore } from './store/memory-store.js';
import type { PassphraseProvider } from './store/passphrase-key.js';
import { type CredentialStoreOptions, type StoreBackend, type StoreChoice, createCredentialStore } from './store/select-store.js';

/** Options of {@link createLoginkit}; every side effect can be replaced. */
export interface LoginkitOptions {
  /** Folder with config.json and the credential store. Default: `$LOGINKIT_HOME` or the platform's config folder. */
  home?: string;
  /** Environment to read settings from. Default: `process.env`. */
  env?: Environment;
  /** Fetch used for every request. Default: fetch through the proxy that `env`'s `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` name. */
  fetch?: FetchLike;
  /** Opens a URL for the person. Default: `$BROWSER`, else the system browser. */
  openBrowser?: (url: string) => Promise<void>;
  /** Receives progress of sign-ins, for a UI to render. */
  onEvent?: (event: LoginEvent) => void;
  /** Told about problems that were worked around, e.g. a failed refresh while the current token is still valid. */
  onWarning?: (message: string) => void;
  /** Clock in ms since the epoch. Default: `Date.now`. */
  now?: () => number;
  /** Bound on every network call, in ms. Default: `$LOGINKIT_HTTP_TIMEOUT` seconds, else 30 000. */
  timeoutMs?: number;
  /**
   * Where new credentials are kept: `auto` (the OS keychain when it works, else a plaintext file, announced
   * through `onWarning`), `keychain`, `passphrase`, `file` (an explicit choice never falls back), `memory`,
   * or your own EntryStore. Default: `$LOGINKIT_STORE`, else `store` in config.json, else `auto`. An
   * existing store file is read with the backend that wrote it.
   */
  store?: StoreChoice | 'memory' | EntryStore;
  /** Supplies the passphrase of a `passphrase` store when `LOGINKIT_PASSPHRASE` is not set in `env`. */
  askPassphrase?: PassphraseProvider;
  /** Where this process runs (SSH, WSL, container, CI, display), which decides how `login` signs in. Default: detected from `env`. */
  environment?: LoginEnvironment;
}

/** Which credential to use: a profile (default: the active one) and, when both exist, env or store. */
export interface CredentialChoice {
  /** Profile name; default `$LOGINKIT_PROFILE`, else the one chosen with `switch`, else `default`. */
  profile?: string;
  /** `env` or `store` forces that source; default: the provider's environment variable wins when set. */
  source?: 'env' | 'store';
}

/** Options of one sign-in. */
export interface LoginOptions {
  /** Profile to store the credential under (default: the active one). */
  profile?: string;
  /** How long to wait for the person, in ms. Default: 300 000; for a device code, the code's lifetime. */
  timeoutMs?: number;
  /** Only announce the URL (event `authorization_url`); do not open a browser. */
  noBrowser?: boolean;
  /** `browser`, `device` (a code entered on any device), `paste`, or `auto` (default: decided from the environment). */
  method?: LoginMethod | 'auto';
  /** What the person pastes (the URL their browser ended on), raced against the loopback callback; see `createPasteBox`. */
  pasted?: AsyncIterable<string>;
  /** Cancels the sign-in. */
  signal?: AbortSignal;
  /** Receives progress of this sign-in (in addition to the client's `onEvent`). */
  onEvent?: (event: LoginEvent) => void;
}

/** What a successful sign-in produced (no secrets). */
export interface LoginResult {
  provider: string;
  profile: string;
  method: 'oauth' | 'api_key';
  /** The key, masked (API keys only). */
  key?: string;
  /** Whether the provider confirmed the key (API keys only). */
  verified?: boolean;
  /** An environment variable that is set and will be used instead of what was just stored. */
  shadowedBy?: string;
  account: AccountInfo | undefined;
  scopes: readonly string[];
  /** ISO 8601, or null when the server gave no expiry. */
  expiresAt: string | null;
  store: StoreInfo;
}

/** One place a credential was found, as `status` lists it. */
export interface CredentialSource {
  /** `env`: an environment variable; `oauth` / `api_key`: a stored credential. */
  kind: 'env' | 'oauth' | 'api_key';
  /** The variable's name, or the stored credential's profile. */
  name: string;
  /** Masked key, or the account, for display. */
  detail: string | null;
  /** The source `token` and `exec` use. */
  inEffect: boolean;
}

/** One provider's state, as `loginkit status` shows it. */
export interface ProviderStatus {
  id: string;
  /** The kind of the credential in effect; null when there is none. */
  method: 'oauth' | 'api_key' | null;
  /** Where the credential in effect comes from. */
  source: 'env' | 'store' | null;
  /** The profile looked at. */
  profile: string;
  loggedIn: boolean;
  /** Email, else subject, of the signed-in account. */
  account: string | null;
  scopes: readonly string[];
  /** ISO 8601 expiry of the access token, or null. */
  expiresAt: string | null;
  /** Whether the access token can be renewed without the person. */
  refreshable: boolean;
  /** Where the credential is kept, e.g. `/home/me/.config/loginkit/credentials.json (encrypted (keychain))`. */
  store: string | null;
  /** How it is protected there. */
  protection: Protection | null;
  /** The API key in effect, masked. */
  key: string | null;
  /** Subscription plan and workspace, where the provider's ID token says. */
  plan: string | null;
  workspace: string | null;
  /** Every source found, the one in effect marked. */
  sources: CredentialSource[];
}

/** What `import` did or, with `dryRun`, would do (no secrets: keys are masked). */
export interface ImportReport {
  source: ImportSource;
  file: string;
  dryRun: boolean;
  imported: Array<{ provider: string; profile: string; kind: 'api_key' | 'oauth'; detail: string; origin: string }>;
  skipped: Skipped[];
}

/** What `exec` puts in a child's environment. */
export interface ExecEnvironment {
  /** Variables to set (secrets: pass them only to the child). */
  variables: Record<string, string>;
  /** For each provider, which source and variable was used (no secrets). */
  used: Array<{ provider: string; source: 'env' | 'store'; variable: string }>;
}

/** What `logout` did. */
export interface LogoutResult {
  provider: string;
  /** Whether a local credential was removed. */
  removed: boolean;
  profile: string;
  /**
   * `revoked`: the server confirmed; `unsupported`: it has no revocation endpoint; `failed`: it could not be
   * reached or refused; `local_only`: an API key, which only the provider's console can revoke.
   */
  revocation: 'revoked' | 'unsupported' | 'failed' | 'not_signed_in' | 'local_only';
  /** Why revocation failed, when it did. */
  revocationError?: string;
}

/** A provider known to this home. */
export interface ProviderSummary {
  id: string;
  displayName: string;
  builtin: boolean;
  methods: readonly ('oauth' | 'api_key')[];
  /** Environment variables that hold its API key, the conventional one first. */
  envVars: readonly string[];
  issuer: string | null;
  clientId: string | null;
  scopes: readonly string[];
  redirectUri: string | null;
  docsUrl: string | null;
  policyNote: string | null;
}

/** A loginkit client bound to one home folder. */
export interface Loginkit {
  readonly home: string;
  /** Where credentials are kept (what the store file says once it exists). */
  readonly store: StoreInfo;
  /** The store file: where, how it is protected, which backend is asked for, and whether it opens. */
  storeStatus(): Promise<StoreReport>;
  /**
   * Moves every credential to another backend without losing any: writes the new store beside the old,
   * reads it back, switches atomically, then removes the old keychain key. Safe to interrupt.
   */
  migrateStore(to: StoreBackend, options?: Pick<MigrateOptions, 'onStep'>): Promise<MigrationResult>;
  /** Moves a store file that cannot be read aside as `credentials.json.corrupt-<time>` (never deletes); `force` for one that can. */
  resetStore(options?: { force?: boolean }): Promise<ResetResult>;
  /** Signs in to a provider through the browser (Authorization Code + PKCE) and stores the tokens. */
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  /** Checks an API key's shape, then (unless `verify` is false) asks the provider, then stores it. */
  loginWithApiKey(provider: string, key: string, options?: { profile?: string; verify?: boolean }): Promise<LoginResult>;
  /**
   * The secret for the provider: its environment variable when set (unless `source: 'store'`), else the
   * stored API key or a valid access token, refreshed first when due. Throws LoginRequiredError when there is none.
   */
  getToken(provider: string, choice?: CredentialChoice): Promise<string>;
  /** The state of one provider, or of every provider with a credential (stored or in the environment) or configured. */
  status(provider?: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<ProviderStatus[]>;
  /** Revokes the provider's tokens at the server (best effort, bounded) and removes them locally. */
  logout(provider: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<LogoutResult>;
  /** Makes `profile` the one used for `provider` when none is named. */
  switchProfile(provider: string, profile: string): Promise<void>;
  /**
   * Reads another tool's credential file (read-only) and stores its API keys under `profile` and its
   * OAuth sign-ins under profile `chatgpt`; never replaces a credential already there. `dryRun` only reports.
   */
  importCredentials(source: ImportSource, options?: { dryRun?: boolean; profile?: string }): Promise<ImportReport>;
  /** The variables `exec` sets for these providers (API keys, fresh access tokens). */
  execEnvironment(providers: readonly string[], choice?: CredentialChoice): Promise<ExecEnvironment>;
  /** Logs out of every stored credential. */
  logoutAll(): Promise<LogoutResult[]>;
  /** Providers configured in this home. */
  providers(): Promise<ProviderSummary[]>;
  /** The provider called `id` (built in or configured), or a ConfigError. */
  provider(id: string): Promise<ProviderSummary>;
  /** Adds or replaces a provider entry in config.json after validating it. */
  addProvider(id: string, entry: ProviderEntry): Promise<ProviderSummary>;
  /**
   * A fetch that authenticates as the provider's signed-in account: adds the access token, refreshes it
   * when due, and on a 401 refreshes once and retries once when the body can be sent again.
   */
  createFetch(provider: string, choice?: CredentialChoice): FetchLike;
}

const REVOCATION_TIMEOUT_MS = 10_000;
/** The profile that imported OAuth sign-ins (Codex's and opencode's ChatGPT tokens) go to. */
const IMPORTED_SIGN_IN_PROFILE = 'chatgpt';
/** Name of the credential store file inside the home folder. */
export const STORE_FILE = 'credentials.json';

/** Creates a loginkit client. Nothing is read or written until a method is called. */
export function createLoginkit(options: LoginkitOptions = {}): Loginkit {
  const env = options.env ?? process.env;
  const home = options.home ?? resolveHome(env);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? timeoutFromEnvironment(env) ?? DEFAULT_TIMEOUT_MS;
  const http = createHttp({ fetch: options.fetch, env, timeoutMs });
  const storeOptions: CredentialStoreOptions = {
    path: join(home, STORE_FILE),
    env,
    choice: typeof options.store === 'string' && options.store !== 'memory' ? options.store : undefined,
    readSetting: async () => (await readConfigFile(home)).store,
    askPassphrase: options.askPassphrase,
    onWarning: options.onWarning,
  };
  const store =
    options.store === 'memory'
      ? createMemoryStore()
      : typeof options.store === 'object'
        ? options.store
        : createCredentialStore(storeOptions);
  const storeFileOnly = (): void => {
    if (options.store === 'memory' || typeof options.store === 'object') {
      throw new ConfigError('Store management works on the store file; this client was given another store.');
    }
  };
  const session = new TokenSession({
    store,
    http,
    timeoutMs,
    now,
    retry: DEFAULT_RETRY_POLICY,
    onWarning: options.onWarning ?? (() => undefined),
  });
  const openBrowser = options.openBrowser ?? (async (url: string) => (await import('./browser.js')).openSystemBrowser(url, env));

  const storeLabel = (): string => `${store.info.location} (${store.info.protection})`;
  const emit = (loginOptions: LoginOptions) => (event: LoginEvent) => {
    options.onEvent?.(event);
    loginOptions.onEvent?.(event);
  };

  const profileFor = async (provider: string, explicit: string | undefined): Promise<string> => {
    const profile = explicit ?? (env.LOGINKIT_PROFILE || undefined) ?? (await session.activeProfile(provider));
    const problem = profileProblem(profile);
    if (problem) throw new ConfigError(problem);
    return profile;
  };

  const registry = createProviderLookup(home);
  const findProvider = (id: string): Promise<Provider> => registry.find(id);
  /** The provider's definition where one exists; stored credentials of a since-removed provider still show. */
  const knownProvider = (id: string): Promise<Provider | undefined> => registry.findKnown(id);

  const statusOf = async (id: string, explicitProfile: string | undefined): Promise<ProviderStatus> => {
    const [provider, profile, stored] = await Promise.all([
      knownProvider(id),
      profileFor(id, explicitProfile),
      session.credentials().then((all) => all.filter((c) => c.provider === id)),
    ]);
    const fromEnv = provider ? apiKeyFromEnvironment(provider, env) : undefined;
    const current = stored.find((c) => c.profile === profile);
    const sources: CredentialSource[] = [];
    if (fromEnv) sources.push({ kind: 'env', name: fromEnv.variable, detail: maskSecret(fromEnv.value), inEffect: true });
    for (const credential of stored) {
      sources.push({
        kind: credential.kind,
        name: credential.profile,
        detail:
          credential.kind === 'api_key' ? maskSecret(credential.key) : (credential.account?.email ?? credential.account?.subject ?? null),
        inEffect: !fromEnv && credential === current,
      });
    }
    const base = { id, profile, store: null, protection: null, key: null, plan: null, workspace: null, sources };
    if (fromEnv) {
      return {
        ...base,
        method: 'api_key',
        source: 'env',
        loggedIn: true,
        account: null,
        scopes: [],
        expiresAt: null,
        refreshable: false,
        key: maskSecret(fromEnv.value),
      };
    }
    if (!current)
      return { ...base, method: null, source: null, loggedIn: false, account: null, scopes: [], expiresAt: null, refreshable: false };
    const where = { source: 'store' as const, store: storeLabel(), protection: store.info.protection };
    if (current.kind === 'api_key') {
      return {
        ...base,
        ...where,
        method: 'api_key',
        loggedIn: true,
        account: null,
        scopes: [],
        expiresAt: null,
        refreshable: false,
        key: maskSecret(current.key),
      };
    }
    const refreshable = current.refreshToken !== undefined;
    return {
      ...base,
      ...where,
      method: 'oauth',
      loggedIn: refreshable || isAccessTokenUsable(current, now()),
      account: current.account?.email ?? (current.account?.subject || null),
      scopes: current.scopes,
      expiresAt: current.expiresAt === null ? null : new Date(current.expiresAt).toISOString(),
      refreshable,
      plan: current.account?.plan ?? null,
      workspace: current.account?.workspace ?? null,
      key: current.apiKey ? maskSecret(current.apiKey) : null,
    };
  };

  const logoutCredential = async (credential: Credential): Promise<LogoutResult> => {
    const done = { provider: credential.provider, profile: credential.profile };
    if (credential.kind === 'api_key') {
      return { ...done, removed: await session.remove(credential.provider, credential.profile), revocation: 'local_only' };
    }
    const { revokeToken } = await import('./oauth/grants.js');
    const connection = session.connectionFor(credential, REVOCATION_TIMEOUT_MS);
    const outcomes = [];
    // Refresh token first: revoking it usually ends the whole grant, access token included (RFC 7009 §2.1).
    if (credential.refreshToken) outcomes.push(await revokeToken(connection, credential.refreshToken, 'refresh_token'));
    outcomes.push(await revokeToken(connection, credential.accessToken, 'access_token'));
    const removed = await session.remove(credential.provider, credential.profile);
    const failed = outcomes.find((outcome) => outcome.outcome === 'failed');
    const revocation = failed ? 'failed' : outcomes.every((o) => o.outcome === 'unsupported') ? 'unsupported' : 'revoked';
    return { ...done, removed, revocation, ...(failed?.error ? { revocationError: failed.error } : {}) };
  };

  /** The secret in effect and where it came from. */
  const secretFor = async (
    id: string,
    choice: CredentialChoice,
  ): Promise<{ source: 'env'; variable: string; value: string } | { source: 'store'; credential: Credential }> => {
    if (choice.source !== 'store') {
      const builtinOrConfigured = await knownProvider(id);
      const fromEnv = builtinOrConfigured ? apiKeyFromEnvironment(builtinOrConfigured, env) : undefined;
      if (fromEnv) return { source: 'env', ...fromEnv };
      if (choice.source === 'env') {
        const names = builtinOrConfigured?.apiKey?.envVars.join(' or ') || 'no environment variable';
        throw new LoginRequiredError(id, `--source env: ${names} is not set for "${id}".`);
      }
    }
    const profile = await profileFor(id, choice.profile);
    return { source: 'store', credential: await session.freshCredential(id, profile) };
  };

  /** The API key a sign-in can be traded for; a failure only costs the key, with a warning. */
  const exchangeApiKey = async (
    metadata: ServerMetadata,
    oauth: OAuthProvider,
    idToken: string,
    requestedToken: string,
  ): Promise<string | undefined> => {
    const { exchangeIdTokenForApiKey } = await import('./oauth/token-exchange.js');
    try {
      return await exchangeIdTokenForApiKey({ metadata, clientId: oauth.clientId, http, timeoutMs }, idToken, requestedToken);
    } catch (error) {
      options.onWarning?.(
        `${(error as Error).message.split('\n')[0]} The sign-in works, but \`exec\` will not set an API key for "${oauth.id}".`,
      );
      return undefined;
    }
  };

  const shadowingVariable = async (provider: Provider): Promise<string | undefined> => apiKeyFromEnvironment(provider, env)?.variable;

  return {
    home,
    get store() {
      return store.info;
    },

    async login(id, loginOptions = {}) {
      const provider = await findProvider(id);
      const oauth = provider.oauth;
      if (!oauth) {
        const note = provider.policyNote ? `${provider.policyNote}\n` : '';
        throw new ConfigError(`${note}${provider.displayName} signs in with an API key: loginkit login ${id} --with-api-key < key-file`);
      }
      const profile = await profileFor(id, loginOptions.profile);
      // A store that cannot be written must fail now, not after the person has signed in.
      await session.credentials();
      const { resolveServerMetadata } = await import('./oauth/server.js');
      const { signIn } = await import('./sign-in.js');
      const { detectEnvironment } = await import('./environment.js');
      const metadata = await resolveServerMetadata(oauth, http, timeoutMs);
      const tokens = await signIn({
        providerId: id,
        connection: { metadata, clientId: oauth.clientId, http, timeoutMs },
        scopes: oauth.scopes,
        redirectUri: oauth.redirectUri,
        fallbackRedirectPorts: oauth.fallbackRedirectPorts,
        authorizeParams: oauth.authorizeParams,
        accountClaims: oauth.accountClaims,
        apiKeySupported: provider.apiKey !== undefined,
        deviceProtocol: oauth.deviceProtocol,
        method: loginOptions.method ?? 'auto',
        environment: options.environment ?? detectEnvironment({ env }),
        openBrowser,
        browserInjected: options.openBrowser !== undefined,
        noBrowser: loginOptions.noBrowser === true,
        pasted: loginOptions.pasted,
        onEvent: emit(loginOptions),
        signal: loginOptions.signal,
        timeoutMs: loginOptions.timeoutMs,
        now,
      });
      const apiKey =
        oauth.apiKeyExchange && tokens.idToken
          ? await exchangeApiKey(metadata, oauth, tokens.idToken, oauth.apiKeyExchange.requestedToken)
          : undefined;
      const credential = toCredential(
        { provider: id, profile, clientId: oauth.clientId, server: metadata, jsonBodies: oauth.jsonBodyEndpoints, apiKey },
        tokens,
      );
      await session.save(credential);
      const shadowedBy = await shadowingVariable(provider);
      return {
        provider: id,
        profile,
        method: 'oauth',
        ...(apiKey ? { key: maskSecret(apiKey) } : {}),
        ...(shadowedBy ? { shadowedBy } : {}),
        account: tokens.account,
        scopes: tokens.scopes,
        expiresAt: tokens.expiresAt === null ? null : new Date(tokens.expiresAt).toISOString(),
        store: store.info,
      };
    },

    async loginWithApiKey(id, key, keyOptions = {}) {
      const provider = await findProvider(id);
      const profile = await profileFor(id, keyOptions.profile);
      const trimmed = key.trim();
      checkApiKeyFormat(provider, trimmed);
      const verify = keyOptions.verify !== false;
      if (verify) await verifyApiKey(provider, trimmed, http, env);
      await session.save({ kind: 'api_key', provider: id, profile, key: trimmed, verified: verify, obtainedAt: now() });
      const shadowedBy = await shadowingVariable(provider);
      return {
        provider: id,
        profile,
        method: 'api_key',
        key: maskSecret(trimmed),
        verified: verify,
        ...(shadowedBy ? { shadowedBy } : {}),
        account: undefined,
        scopes: [],
        expiresAt: null,
        store: store.info,
      };
    },

    async getToken(id, choice = {}) {
      const secret = await secretFor(id, choice);
      if (secret.source === 'env') return secret.value;
      return secret.credential.kind === 'api_key' ? secret.credential.key : secret.credential.accessToken;
    },

    async status(id, choice = {}) {
      if (id !== undefined) return [await statusOf(id, choice.profile)];
      const [known, stored] = await Promise.all([registry.list(), session.credentials()]);
      const ids = new Set(stored.map((c) => c.provider));
      for (const provider of known) {
        if (!provider.builtin || apiKeyFromEnvironment(provider, env)) ids.add(provider.id);
      }
      return Promise.all([...ids].sort().map((providerId) => statusOf(providerId, choice.profile)));
    },

    async logout(id, choice = {}) {
      const profile = await profileFor(id, choice.profile);
      const credential = await session.credential(id, profile);
      if (!credential) return { provider: id, profile, removed: false, revocation: 'not_signed_in' };
      return logoutCredential(credential);
    },

    async logoutAll() {
      const results: LogoutResult[] = [];
      for (const credential of await session.credentials()) results.push(await logoutCredential(credential));
      return results;
    },

    async switchProfile(id, profile) {
      const problem = profileProblem(profile);
      if (problem) throw new ConfigError(problem);
      if (!(await session.credential(id, profile))) {
        throw new LoginRequiredError(id, `No credential for "${id}" in profile "${profile}".`, undefined, profile);
      }
      await session.setActiveProfile(id, profile);
    },

    async execEnvironment(ids, choice = {}) {
      const variables: Record<string, string> = {};
      const used: ExecEnvironment['used'] = [];
      for (const id of ids) {
        const provider = await findProvider(id);
        const secret = await secretFor(id, choice);
        if (secret.source === 'env') {
          used.push({ provider: id, source: 'env', variable: secret.variable });
          continue;
        }
        const credential = secret.credential;
        if (credential.kind === 'api_key') {
          // Every key variable the provider's SDK reads gets the stored key, so none of them shadows it.
          const names = provider.apiKey?.envVars ?? [provider.accessTokenEnvVar];
          for (const name of names) variables[name] = credential.key;
          const settings = provider.apiKey;
          if (settings?.baseUrlOverride && settings.baseUrlEnvVar) variables[settings.baseUrlEnvVar] = settings.baseUrlOverride;
          used.push({ provider: id, source: 'store', variable: names[0] ?? provider.accessTokenEnvVar });
        } else {
          variables[provider.accessTokenEnvVar] = credential.accessToken;
          // A key obtained with the sign-in goes where the provider's SDK looks for keys.
          if (credential.apiKey) for (const name of provider.apiKey?.envVars ?? []) variables[name] = credential.apiKey;
          used.push({ provider: id, source: 'store', variable: provider.accessTokenEnvVar });
        }
      }
      return { variables, used };
    },

    async importCredentials(source, importOptions = {}) {
      const { readImportPlan } = await import('./importers/index.js');
      const plan = await readImportPlan(source, env);
      const report: ImportReport = {
        source,
        file: plan.file,
        dryRun: importOptions.dryRun === true,
        imported: [],
        skipped: [...plan.skipped],
      };
      for (const candidate of plan.candidates) {
        const what = `${candidate.provider} ${candidate.kind === 'api_key' ? 'API key' : 'sign-in'} from ${candidate.origin}`;
        const provider = await knownProvider(candidate.provider);
        // A provider's API key and its sign-in from the same file would collide in one profile: the
        // sign-in goes to its own profile, named for what it is.
        const profile = candidate.kind === 'oauth' ? IMPORTED_SIGN_IN_PROFILE : await profileFor(candidate.provider, importOptions.profile);
        if (await session.credential(candidate.provider, profile)) {
          report.skipped.push({
            what,
            reason: `"${candidate.provider}" already has a credential in profile "${profile}"; import into another one with --profile NAME`,
          });
          continue;
        }
        let credential: Credential;
        if (candidate.kind === 'api_key') {
          credential = {
            kind: 'api_key',
            provider: candidate.provider,
            profile,
            key: candidate.key,
            verified: false,
            obtainedAt: now(),
            origin: candidate.origin,
          };
        } else {
          const oauth = provider?.oauth;
          if (!oauth?.knownEndpoints) {
            report.skipped.push({
              what,
              reason: `loginkit cannot refresh "${candidate.provider}" tokens from another tool; sign in: loginkit login ${candidate.provider}`,
            });
            continue;
          }
          const { accountFromIdToken } = await import('./oauth/tokens.js');
          // An ID token we cannot read only costs the account details.
          const account = candidate.idToken ? accountFromIdToken(candidate.idToken, oauth.accountClaims) : undefined;
          credential = toCredential(
            {
              provider: candidate.provider,
              profile,
              clientId: oauth.clientId,
              server: {
                issuer: oauth.issuer,
                token_endpoint: oauth.knownEndpoints.token,
                revocation_endpoint: oauth.knownEndpoints.revocation,
              },
              jsonBodies: oauth.jsonBodyEndpoints,
            },
            {
              accessToken: candidate.accessToken,
              refreshToken: candidate.refreshToken,
              idToken: candidate.idToken,
              tokenType: 'bearer',
              scopes: [...oauth.scopes],
              expiresAt: candidate.expiresAt,
              obtainedAt: now(),
              account: account ? { ...account, workspace: account.workspace ?? candidate.accountId } : undefined,
            },
          );
        }
        if (!report.dryRun) await session.save(credential);
        report.imported.push({
          provider: candidate.provider,
          profile,
          kind: candidate.kind,
          detail: candidate.kind === 'api_key' ? maskSecret(candidate.key) : 'tokens',
          origin: candidate.origin,
        });
      }
      return report;
    },

    async providers() {
      return (await registry.list()).map(summarize);
    },

    async provider(id) {
      return summarize(await findProvider(id));
    },

    async addProvider(id, entry) {
      const provider = validateProviderEntry(id, entry, join(home, 'config.json'));
      await writeProviderEntry(home, id, entry);
      return summarize(provider);
    },

    async storeStatus() {
      storeFileOnly();
      return (await import('./store/admin.js')).inspectStore(storeOptions);
    },

    async migrateStore(to, migrate = {}) {
      storeFileOnly();
      const { migrateStore } = await import('./store/admin.js');
      return migrateStore(storeOptions, to, { ...migrate, writeSetting: (choice) => writeStoreSetting(home, choice) });
    },

    async resetStore(reset = {}) {
      storeFileOnly();
      return (await import('./store/admin.js')).resetStore(storeOptions, reset);
    },

    createFetch(id, choice = {}) {
      let provider: Promise<Provider> | undefined;
      return createAuthenticatedFetch(
        {
          current: async () => {
            const secret = await secretFor(id, choice);
            if (secret.source === 'store') return secret.credential;
            return { kind: 'api_key', provider: id, profile: secret.variable, key: secret.value, verified: false, obtainedAt: now() };
          },
          renew: (rejected) => (rejected.kind === 'oauth' ? session.refresh(rejected, true) : Promise.resolve(rejected)),
          headers: async (credential) => {
            if (credential.kind === 'oauth') return { authorization: `Bearer ${credential.accessToken}` };
            provider ??= findProvider(id);
            const settings = (await provider).apiKey;
            if (!settings) throw new ConfigError(`"${id}" has no API-key settings.`);
            return apiKeyHeaders(settings, credential.key);
          },
        },
        createHttp({ fetch: options.fetch, env, timeoutMs, bound: 'headers' }),
      );
    },
  };
}

/** `LOGINKIT_HTTP_TIMEOUT` (seconds) as milliseconds, when set to a positive number. */
function timeoutFromEnvironment(env: Environment): number | undefined {
  const seconds = Number(env.LOGINKIT_HTTP_TIMEOUT);
  return env.LOGINKIT_HTTP_TIMEOUT && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

function summarize(provider: Provider): ProviderSummary {
  return {
    id: provider.id,
    displayName: provider.displayName,
    builtin: provider.builtin,
    methods: provider.methods,
    envVars: provider.apiKey?.envVars ?? [],
    issuer: provider.oauth?.issuer ?? null,
    clientId: provider.oauth?.clientId ?? null,
    scopes: provider.oauth?.scopes ?? [],
    redirectUri: provider.oauth?.redirectUri ?? null,
    docsUrl: provider.docsUrl ?? null,
    policyNote: provider.policyNote ?? null,
  };
}

/** True when `error` means the person has to sign in again. */
export function isLoginRequired(error: unknown): error is LoginRequiredError {
  return error instanceof LoginRequiredError;
}
