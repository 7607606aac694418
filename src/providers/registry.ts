import { ConfigError } from '../errors.js';
import { type ConfigFile, type OAuthProviderEntry, readConfigFile } from './config-file.js';
import { endpointProblem, redirectUriProblem } from './endpoints.js';

/** Endpoints given by hand, for a server that publishes no discovery document. */
export interface ManualEndpoints {
  authorization: string;
  token: string;
  revocation?: string;
  userinfo?: string;
  deviceAuthorization?: string;
}

/** An OAuth/OIDC provider, validated and with defaults filled in. */
export interface OAuthProvider {
  readonly id: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** The registered loopback redirect URI; without a port, an ephemeral one is used. */
  readonly redirectUri: string;
  /** Present when the provider is configured without discovery. */
  readonly endpoints: ManualEndpoints | undefined;
  /** Extra parameters for the authorization request. */
  readonly authorizeParams: Readonly<Record<string, string>>;
}

/** The default loopback redirect (RFC 8252 §7.3): any free port on 127.0.0.1. */
export const DEFAULT_REDIRECT_URI = 'http://127.0.0.1/callback';
/** Scopes asked for when the config names none. */
export const DEFAULT_SCOPES = ['openid', 'offline_access', 'email', 'profile'] as const;

const PROVIDER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Why `id` cannot name a provider, or undefined when it can. */
export function providerIdProblem(id: string): string | undefined {
  return PROVIDER_ID.test(id) ? undefined : `provider id "${id}" must be 1–64 of a-z 0-9 . _ - and start with a letter or digit`;
}

/** Every provider this home knows, in id order. */
export async function listProviders(home: string): Promise<OAuthProvider[]> {
  const config = await readConfigFile(home);
  return Object.keys(config.providers)
    .sort()
    .map((id) => toProvider(config, id));
}

/** The provider called `id`, or a configuration error that says how to add it. */
export async function findProvider(home: string, id: string): Promise<OAuthProvider> {
  const config = await readConfigFile(home);
  if (!Object.hasOwn(config.providers, id)) {
    throw new ConfigError(
      `Unknown provider "${id}".\nAdd it: loginkit providers add ${id} --issuer URL --client-id ID (or see: loginkit providers)`,
    );
  }
  return toProvider(config, id);
}

/** Validates a provider entry the way a stored one is validated; throws a ConfigError naming the field. */
export function validateProviderEntry(id: string, entry: OAuthProviderEntry, file: string): OAuthProvider {
  const idProblem = providerIdProblem(id);
  if (idProblem) throw new ConfigError(`${file}: ${idProblem}`);
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(`${file}: provider "${id}": field ${field} ${problem}`);
  };
  const checkEndpoint = (field: keyof OAuthProviderEntry, value: string | undefined): void => {
    const problem = value === undefined ? undefined : endpointProblem(value);
    if (problem) fail(field, problem);
  };
  checkEndpoint('issuer', entry.issuer);
  checkEndpoint('authorizationEndpoint', entry.authorizationEndpoint);
  checkEndpoint('tokenEndpoint', entry.tokenEndpoint);
  checkEndpoint('revocationEndpoint', entry.revocationEndpoint);
  checkEndpoint('userinfoEndpoint', entry.userinfoEndpoint);
  checkEndpoint('deviceAuthorizationEndpoint', entry.deviceAuthorizationEndpoint);
  const redirectUri = entry.redirectUri ?? DEFAULT_REDIRECT_URI;
  const redirectProblem = redirectUriProblem(redirectUri);
  if (redirectProblem) fail('redirectUri', redirectProblem);
  if ((entry.authorizationEndpoint === undefined) !== (entry.tokenEndpoint === undefined)) {
    fail(
      entry.authorizationEndpoint === undefined ? 'authorizationEndpoint' : 'tokenEndpoint',
      'is required when the other endpoint is given (or give neither and use discovery)',
    );
  }
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
    displayName: entry.displayName ?? id,
    issuer: entry.issuer,
    clientId: entry.clientId,
    scopes: entry.scopes ?? [...DEFAULT_SCOPES],
    redirectUri,
    endpoints,
    authorizeParams: entry.authorizeParams ?? {},
  };
}

function toProvider(config: ConfigFile, id: string): OAuthProvider {
  const entry = config.providers[id];
  if (!entry) throw new ConfigError(`${config.path}: provider "${id}" is missing`);
  return validateProviderEntry(id, entry, config.path);
}
