import { ConfigError, UnknownProviderError } from '../errors.js';
import { BUILTIN_PROVIDERS, type ApiKeySpec, type AuthMethod, type OAuthPreset, type ProviderSpec } from './catalog.js';
import { statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { type ConfigFile, PROVIDER_ID, type ProviderEntry, configPath, readConfigFile } from './config-file.js';
import { endpointProblem, redirectUriProblem } from './endpoints.js';

/** Endpoints given by hand, for a server that publishes no discovery document. */
export interface ManualEndpoints {
  authorization: string;
  token: string;
  revocation?: string;
  userinfo?: string;
  deviceAuthorization?: string;
}

/** An OAuth/OIDC sign-in, validated and with defaults filled in. */
export interface OAuthProvider {
  readonly id: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** The registered loopback redirect URI; without a port, an ephemeral one is used. */
  readonly redirectUri: string;
  /** Ports to try when the redirect URI's fixed port is busy. */
  readonly fallbackRedirectPorts: readonly number[];
  /** Present when the provider is configured without discovery. */
  readonly endpoints: ManualEndpoints | undefined;
  /** Extra parameters for the authorization request. */
  readonly authorizeParams: Readonly<Record<string, string>>;
  /** The token and revocation endpoints take JSON bodies. */
  readonly jsonBodyEndpoints: boolean;
  readonly accountClaims: OAuthPreset['accountClaims'];
  readonly apiKeyExchange?: OAuthPreset['apiKeyExchange'];
  /** The provider's own device-code protocol, when it has one instead of RFC 8628. */
  readonly deviceProtocol?: OAuthPreset['deviceProtocol'];
  /** Token and revocation endpoints known without discovery (unset when config.json changes the issuer). */
  readonly knownEndpoints?: OAuthPreset['knownEndpoints'];
}

/** How API keys for a provider are sent and checked; `baseUrl` is the configured override, if any. */
export interface ApiKeySettings extends ApiKeySpec {
  readonly baseUrlOverride: string | undefined;
}

/** A provider: built in or configured, with the methods it offers. */
export interface Provider {
  readonly id: string;
  readonly displayName: string;
  readonly builtin: boolean;
  readonly methods: readonly AuthMethod[];
  readonly oauth: OAuthProvider | undefined;
  readonly apiKey: ApiKeySettings | undefined;
  /** Where `exec` puts an OAuth access token. */
  readonly accessTokenEnvVar: string;
  readonly docsUrl: string | undefined;
  readonly policyNote: string | undefined;
  /** A command that prints the key (config.json `keyCommand`), used instead of a stored credential. */
  readonly keyCommand?: KeyCommandSetting | undefined;
  /** A cloud identity (`type: "aws"`, …): its own feature module makes and renews the credential. */
  readonly cloud?: CloudSettings | undefined;
}

/** The settings of a cloud provider, by cloud. */
export type CloudSettings =
  | { readonly type: 'aws'; readonly settings: AwsProviderSettings }
  | { readonly type: 'google-cloud'; readonly settings: GoogleCloudSettings }
  | { readonly type: 'azure'; readonly settings: AzureSettings };

/**
 * A Google Cloud provider as configured: where its credential comes from (ADC by default, a credentials
 * file, or loginkit's own sign-in when `clientId` is given), a service account to impersonate with it, and
 * what Vertex AI needs.
 */
export interface GoogleCloudSettings {
  readonly credentialsFile?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecret?: string | undefined;
  /** The service account to act as; a list is a delegation chain whose last entry is the target. */
  readonly impersonateServiceAccount?: string | readonly string[] | undefined;
  readonly iamCredentialsEndpoint?: string | undefined;
  /** The sign-in's OpenID issuer (default `https://accounts.google.com`). */
  readonly issuer?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly project?: string | undefined;
  readonly location?: string | undefined;
}

/**
 * An AWS provider as configured: a profile of the AWS config file to read the rest from, and/or the
 * settings themselves (which win over the profile's).
 */
export interface AwsProviderSettings {
  readonly awsProfile?: string | undefined;
  readonly ssoSession?: string | undefined;
  readonly startUrl?: string | undefined;
  readonly ssoRegion?: string | undefined;
  readonly accountId?: string | undefined;
  readonly roleName?: string | undefined;
  readonly region?: string | undefined;
}

/** A key command as configured: the argument vector, how long its key is reused, and where it is cached. */
export interface KeyCommandSetting {
  readonly argv: readonly string[];
  /** In ms; 0 runs the command for every use. */
  readonly ttlMs: number;
  readonly cache: 'memory' | 'store';
  /** In ms: a command still running after this is ended. */
  readonly timeoutMs: number;
}

/** Default reuse of a key a command printed: 5 minutes, as Claude Code's `apiKeyHelper`. */
const DEFAULT_KEY_COMMAND_TTL_MS = 5 * 60_000;
/** Default bound on a key command: long enough for a password manager's unlock prompt. */
const DEFAULT_KEY_COMMAND_TIMEOUT_S = 30;

/**
 * The entry's key command, when it has one. A relative program path with a slash (`./bin/key`) is taken
 * from config.json's folder, never the working directory, which may be a hostile checkout; a bare name
 * is looked up on PATH as usual.
 */
function keyCommandFrom(entry: ProviderEntry, configFile: string): { keyCommand?: KeyCommandSetting } {
  if (!entry.keyCommand) return {};
  const [program, ...args] = entry.keyCommand;
  const anchored = program !== undefined && /[\\/]/.test(program) && !isAbsolute(program) ? resolve(dirname(configFile), program) : program;
  return {
    keyCommand: {
      argv: [anchored as string, ...args],
      ttlMs: entry.keyCommandTtl === undefined ? DEFAULT_KEY_COMMAND_TTL_MS : entry.keyCommandTtl * 1000,
      cache: entry.keyCommandCache ?? 'memory',
      timeoutMs: (entry.keyCommandTimeout ?? DEFAULT_KEY_COMMAND_TIMEOUT_S) * 1000,
    },
  };
}

/** The default loopback redirect (RFC 8252 §7.3): any free port on 127.0.0.1. */
const DEFAULT_REDIRECT_URI = 'http://127.0.0.1/callback';
/** Scopes asked for when the config names none. */
const DEFAULT_SCOPES = ['openid', 'offline_access', 'email', 'profile'] as const;

const BUILTINS = new Map(BUILTIN_PROVIDERS.map((spec) => [spec.id, spec]));

/** Why `id` cannot name a provider, or undefined when it can. */
function providerIdProblem(id: string): string | undefined {
  return PROVIDER_ID.test(id) ? undefined : `provider id "${id}" must be 1–64 of a-z 0-9 . _ - and start with a letter or digit`;
}

/** Provider lookups for one home, re-reading config.json only when the file changed (the token hot path). */
export interface ProviderLookup {
  find(id: string): Promise<Provider>;
  /** The provider, or undefined when it is neither built in nor configured. */
  findKnown(id: string): Promise<Provider | undefined>;
  list(): Promise<Provider[]>;
  /** The error for `id` when it names no provider (with the known ids and the closest one). */
  unknown(id: string): Promise<UnknownProviderError>;
  /** config.json as last read (re-read when it changed). */
  config(): Promise<ConfigFile>;
}

/** A ProviderLookup for `home`. */
export function createProviderLookup(home: string): ProviderLookup {
  const path = configPath(home);
  let cache: { identity: string; config: Promise<ConfigFile>; providers: Map<string, Provider> } | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  const current = (): { config: Promise<ConfigFile>; providers: Map<string, Provider> } => {
    const now = Date.now();
    // Like the store, re-check the file at most every few milliseconds: a stat per call would cap getToken().
    if (cache && now - checkedAt < 25) return cache;
    checkedAt = now;
    let identity = 'none';
    try {
      const stats = statSync(path, { bigint: true });
      identity = `${stats.ino}:${stats.size}:${stats.mtimeNs}`;
    } catch {
      // No config.json: built-in providers only.
    }
    if (cache?.identity !== identity) cache = { identity, config: readConfigFile(home), providers: new Map() };
    return cache;
  };
  const findKnown = async (id: string): Promise<Provider | undefined> => {
    if (providerIdProblem(id)) return undefined;
    const { config, providers } = current();
    const cached = providers.get(id);
    if (cached) return cached;
    const file = await config;
    if (!BUILTINS.has(id) && !Object.hasOwn(file.providers, id)) return undefined;
    const provider = toProvider(file, id);
    providers.set(id, provider);
    return provider;
  };
  return {
    findKnown,
    async find(id) {
      const provider = await findKnown(id);
      if (!provider) throw unknownProvider(id, idsOf(await current().config));
      return provider;
    },
    unknown: async (id) => unknownProvider(id, idsOf(await current().config)),
    config: () => current().config,
    async list() {
      const file = await current().config;
      return idsOf(file).map((id) => toProvider(file, id));
    },
  };
}

/** Every provider id of a config: the built-ins, then the configured ones. */
function idsOf(file: ConfigFile): string[] {
  return [...new Set([...BUILTINS.keys(), ...Object.keys(file.providers).sort()])];
}

/** The error for an id that names no provider: the known ids, and the closest one when it looks like a typo. */
function unknownProvider(id: string, known: readonly string[]): UnknownProviderError {
  const shown = providerIdProblem(id) ? JSON.stringify(id.slice(0, 64)).slice(1, -1) : id;
  return new UnknownProviderError(shown, known, closestId(id.toLowerCase(), known));
}

/** The known id within a typo's distance of `id` (one edit, two for ids of 8 or more letters), or one it is a prefix of. */
function closestId(id: string, known: readonly string[]): string | undefined {
  let best: { id: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(id, candidate);
    if (distance <= (candidate.length >= 8 ? 2 : 1) && (!best || distance < best.distance)) best = { id: candidate, distance };
  }
  return best?.id ?? (id.length >= 3 ? known.find((candidate) => candidate.startsWith(id)) : undefined);
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions, and a swap of two neighbours
 * (`opneai` is one edit from `openai`, the commonest typo of all).
 */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const above = rows[i - 1] as number[];
      let best = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The environment variable `exec` uses for an OAuth access token when the provider names none. */
function defaultAccessTokenEnvVar(id: string): string {
  return `${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_ACCESS_TOKEN`;
}

/** Validates a provider entry the way a stored one is validated; throws a ConfigError naming the field. */
export function validateProviderEntry(id: string, entry: ProviderEntry, file: string): Provider {
  const idProblem = providerIdProblem(id);
  if (idProblem) throw new ConfigError(`${file}: ${idProblem}`);
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(`${file}: provider "${id}": field ${field} ${problem}`);
  };
  for (const field of [
    'issuer',
    'authorizationEndpoint',
    'tokenEndpoint',
    'revocationEndpoint',
    'userinfoEndpoint',
    'deviceAuthorizationEndpoint',
    'baseUrl',
    'startUrl',
    'authorityHost',
    'endpoint',
  ] as const) {
    const value = entry[field];
    const problem = value === undefined ? undefined : endpointProblem(value);
    if (problem) fail(field, problem);
  }
  if (entry.redirectUri !== undefined) {
    const problem = redirectUriProblem(entry.redirectUri);
    if (problem) fail('redirectUri', problem);
  }
  if ((entry.authorizationEndpoint === undefined) !== (entry.tokenEndpoint === undefined)) {
    fail(
      entry.authorizationEndpoint === undefined ? 'authorizationEndpoint' : 'tokenEndpoint',
      'is required when the other endpoint is given (or give neither and use discovery)',
    );
  }
  const builtin = BUILTINS.get(id);
  if (builtin) return mergeBuiltin(builtin, entry, fail);
  if ((entry.type ?? (entry.issuer ? 'oauth' : undefined)) === 'oauth') {
    if (!entry.issuer) fail('issuer', 'is required for an OAuth provider');
    if (!entry.clientId) fail('clientId', 'is required for an OAuth provider');
    return {
      id,
      displayName: entry.displayName ?? id,
      builtin: false,
      methods: ['oauth'],
      oauth: oauthFrom(id, entry.displayName ?? id, undefined, entry),
      apiKey: undefined,
      accessTokenEnvVar: defaultAccessTokenEnvVar(id),
      docsUrl: undefined,
      policyNote: undefined,
    };
  }
  if (entry.type === 'aws') return awsProvider(id, entry, fail);
  if (entry.type === 'google-cloud') return googleCloudProvider(id, entry, fail);
  if (entry.type === 'azure') return azureProvider(id, entry);
  if (entry.type !== 'api_key')
    fail('type', 'must be "oauth" (with issuer and clientId), "api_key" (with baseUrl), "aws", "google-cloud" or "azure"');
  if (!entry.baseUrl) fail('baseUrl', 'is required for an API-key provider');
  const envVar = entry.envVar ?? `${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY`;
  return {
    id,
    displayName: entry.displayName ?? id,
    builtin: false,
    methods: ['api_key'],
    oauth: undefined,
    apiKey: {
      envVars: [envVar],
      defaultBaseUrl: (entry.baseUrl as string).replace(/\/+$/, ''),
      header: entry.header ?? { name: 'Authorization', scheme: 'Bearer' },
      extraHeaders: entry.headers ?? {},
      format: { pattern: /^[\x21-\x7e]{8,1024}$/, description: '8–1024 printable characters without spaces' },
      validation: { method: 'GET', path: entry.validationPath ?? '', okStatuses: [200], rejectedStatuses: [401, 403] },
      baseUrlOverride: undefined,
    },
    accessTokenEnvVar: defaultAccessTokenEnvVar(id),
    docsUrl: undefined,
    policyNote: undefined,
  };
}

/** An AWS provider: either `awsProfile`, or `startUrl`, `ssoRegion`, `accountId` and `roleName` (what is given wins). */
function awsProvider(id: string, entry: ProviderEntry, fail: (field: string, problem: string) => never): Provider {
  if (entry.awsProfile === undefined) {
    for (const field of ['startUrl', 'ssoRegion', 'accountId', 'roleName'] as const) {
      if (entry[field] === undefined) fail(field, 'is required for an AWS provider without awsProfile');
    }
  }
  const { awsProfile, ssoSession, startUrl, ssoRegion, accountId, roleName, region } = entry;
  return {
    id,
    displayName: entry.displayName ?? id,
    builtin: false,
    methods: ['aws'],
    oauth: undefined,
    apiKey: undefined,
    accessTokenEnvVar: 'AWS_BEARER_TOKEN_BEDROCK',
    docsUrl: undefined,
    policyNote: undefined,
    cloud: { type: 'aws', settings: { awsProfile, ssoSession, startUrl, ssoRegion, accountId, roleName, region } },
  };
}

/** A Google Cloud provider: every field is optional (ADC and the `cloud-platform` scope by default). */
function googleCloudProvider(id: string, entry: ProviderEntry, fail: (field: string, problem: string) => never): Provider {
  const iamProblem = entry.iamCredentialsEndpoint === undefined ? undefined : endpointProblem(entry.iamCredentialsEndpoint);
  if (iamProblem) fail('iamCredentialsEndpoint', iamProblem);
  if (entry.clientId !== undefined && entry.credentialsFile !== undefined) {
    fail('credentialsFile', "cannot be combined with clientId (loginkit's own sign-in): choose one source");
  }
  const { credentialsFile, clientId, clientSecret, impersonateServiceAccount, iamCredentialsEndpoint, issuer, scopes } = entry;
  return {
    id,
    displayName: entry.displayName ?? id,
    builtin: false,
    methods: ['google-cloud'],
    oauth: undefined,
    apiKey: undefined,
    accessTokenEnvVar: 'GOOGLE_OAUTH_ACCESS_TOKEN',
    docsUrl: undefined,
    policyNote: undefined,
    cloud: {
      type: 'google-cloud',
      settings: {
        credentialsFile,
        clientId,
        clientSecret,
        impersonateServiceAccount,
        iamCredentialsEndpoint,
        issuer,
        scopes,
        project: entry.project,
        location: entry.location,
      },
    },
  };
}

function mergeBuiltin(spec: ProviderSpec, entry: ProviderEntry, fail: (field: string, problem: string) => never): Provider {
  const displayName = entry.displayName ?? spec.displayName;
  const oauthWanted = spec.oauth !== undefined || entry.issuer !== undefined;
  if (!spec.oauth && entry.issuer && !entry.clientId) fail('clientId', 'is required to add OAuth to a built-in provider');
  return {
    id: spec.id,
    displayName,
    builtin: true,
    methods: oauthWanted && !spec.methods.includes('oauth') ? ['oauth', ...spec.methods] : spec.methods,
    oauth: oauthWanted ? oauthFrom(spec.id, displayName, spec.oauth, entry) : undefined,
    apiKey: spec.apiKey
      ? {
          ...spec.apiKey,
          extraHeaders: { ...spec.apiKey.extraHeaders, ...entry.headers },
          baseUrlOverride: entry.baseUrl?.replace(/\/+$/, ''),
        }
      : undefined,
    accessTokenEnvVar: spec.accessTokenEnvVar ?? defaultAccessTokenEnvVar(spec.id),
    docsUrl: spec.docsUrl,
    policyNote: spec.policyNote,
  };
}

function oauthFrom(id: string, displayName: string, preset: OAuthPreset | undefined, entry: ProviderEntry): OAuthProvider {
  const endpoints: ManualEndpoints | undefined =
    entry.authorizationEndpoint && entry.tokenEndpoint
      ? {
          authorization: entry.authorizationEndpoint,
          token: entry.tokenEndpoint,
          ...(entry.revocationEndpoint ? { revocation: entry.revocationEndpoint } : {}),
          ...(entry.userinfoEndpoint ? { userinfo: entry.userinfoEndpoint } : {}),
          ...(entry.deviceAuthorizationEndpoint ? { deviceAuthorization: entry.deviceAuthorizationEndpoint } : {}),
        }
      : undefined;
  return {
    id,
    displayName,
    issuer: entry.issuer ?? preset?.issuer ?? '',
    clientId: entry.clientId ?? preset?.clientId ?? '',
    scopes: entry.scopes ?? preset?.scopes ?? [...DEFAULT_SCOPES],
    redirectUri: entry.redirectUri ?? preset?.redirectUri ?? DEFAULT_REDIRECT_URI,
    fallbackRedirectPorts: preset?.fallbackRedirectPorts ?? [],
    endpoints,
    authorizeParams: { ...preset?.authorizeParams, ...entry.authorizeParams },
    jsonBodyEndpoints: preset?.jsonBodyEndpoints ?? false,
    accountClaims: preset?.accountClaims,
    apiKeyExchange: preset?.apiKeyExchange,
    deviceProtocol: preset?.deviceProtocol,
    knownEndpoints: entry.issuer === undefined || entry.issuer === preset?.issuer ? preset?.knownEndpoints : undefined,
  };
}

function toProvider(config: ConfigFile, id: string): Provider {
  const entry = config.providers[id] ?? {};
  return { ...validateProviderEntry(id, entry, config.path), ...keyCommandFrom(entry, config.path) };
}

/** Where a Microsoft Entra ID provider's tokens come from (`identity` in config.json). */
export type AzureIdentity = 'auto' | 'person' | 'service-principal' | 'workload-identity' | 'managed-identity' | 'azure-cli';

/**
 * A Microsoft Entra ID provider as configured (`type: "azure"`); what is not given comes from the `AZURE_*`
 * variables the Azure SDKs read, or from the defaults (see features/azure/settings.ts).
 */
export interface AzureSettings {
  readonly identity: AzureIdentity;
  readonly tenant?: string | undefined;
  readonly clientId?: string | undefined;
  readonly authorityHost?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  /** The Azure OpenAI endpoint, e.g. `https://my-resource.openai.azure.com` (`AZURE_OPENAI_ENDPOINT`). */
  readonly endpoint?: string | undefined;
  readonly certificatePath?: string | undefined;
  readonly redirectUri?: string | undefined;
}

/** A Microsoft Entra ID provider: its token is made by features/azure (a person's sign-in, or @azure/identity). */
function azureProvider(id: string, entry: ProviderEntry): Provider {
  const { tenant, clientId, authorityHost, scopes, endpoint, certificatePath, redirectUri } = entry;
  return {
    id,
    displayName: entry.displayName ?? id,
    builtin: false,
    methods: ['azure'],
    oauth: undefined,
    apiKey: undefined,
    accessTokenEnvVar: 'AZURE_OPENAI_AD_TOKEN',
    docsUrl: undefined,
    policyNote: undefined,
    cloud: {
      type: 'azure',
      settings: { identity: entry.identity ?? 'auto', tenant, clientId, authorityHost, scopes, endpoint, certificatePath, redirectUri },
    },
  };
}
