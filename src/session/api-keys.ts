import { ConfigError, LoginkitError, NetworkError } from '../errors.js';
import type { Environment } from '../home.js';
import type { FetchLike } from '../oauth/http.js';
import type { ApiKeySettings, Provider } from '../providers/registry.js';

/** The API's base URL: config.json's `baseUrl`, else the provider's base-URL variable, else the documented default. */
export function apiBaseUrl(settings: ApiKeySettings, env: Environment): string {
  const fromEnv = settings.baseUrlEnvVar ? env[settings.baseUrlEnvVar] : undefined;
  return (settings.baseUrlOverride ?? (fromEnv || undefined) ?? settings.defaultBaseUrl).replace(/\/+$/, '');
}

/** The headers that authenticate a request with `key`. */
export function apiKeyHeaders(settings: ApiKeySettings, key: string): Record<string, string> {
  return {
    ...settings.extraHeaders,
    [settings.header.name]: settings.header.scheme ? `${settings.header.scheme} ${key}` : key,
  };
}

/** The first of the provider's key variables that is set, with its value. */
export function apiKeyFromEnvironment(provider: Provider, env: Environment): { variable: string; value: string } | undefined {
  for (const variable of provider.apiKey?.envVars ?? []) {
    const value = env[variable]?.trim();
    if (value) return { variable, value };
  }
  return undefined;
}

/** Throws a usage-grade error naming the expected shape when `key` cannot be one of the provider's keys. */
export function checkApiKeyFormat(provider: Provider, key: string): void {
  const settings = requireApiKeys(provider);
  if (!settings.format.pattern.test(key)) {
    throw new LoginkitError(
      'usage',
      `That does not look like a ${provider.displayName} API key: expected ${settings.format.description} (nothing was stored).`,
    );
  }
}

/**
 * Asks the provider whether it accepts `key`, with its cheapest authenticated request. Resolves when it
 * does; a refused key, an unclear answer or an unreachable service each throw a clear error.
 */
export async function verifyApiKey(provider: Provider, key: string, http: FetchLike, env: Environment): Promise<void> {
  const settings = requireApiKeys(provider);
  if (settings.baseUrlRequired && !settings.baseUrlOverride && !(settings.baseUrlEnvVar && env[settings.baseUrlEnvVar])) {
    throw new ConfigError(
      `${provider.displayName} needs your resource's endpoint: set ${settings.baseUrlEnvVar ?? 'baseUrl'} or "baseUrl" for "${provider.id}" in config.json.`,
    );
  }
  if (!settings.validation.path) return;
  const url = `${apiBaseUrl(settings, env)}${settings.validation.path}`;
  let response: Response;
  try {
    response = await http(url, { method: settings.validation.method, headers: apiKeyHeaders(settings, key) });
  } catch (error) {
    if (error instanceof NetworkError) {
      throw new NetworkError(
        error.code as 'network' | 'timeout',
        error.host,
        `${error.message.split('\n')[0]} The key was not checked or stored; to store it without checking: --no-verify`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  await response.body?.cancel();
  if (settings.validation.okStatuses.includes(response.status)) return;
  if (settings.validation.rejectedStatuses.includes(response.status)) {
    throw new LoginkitError(
      'provider_error',
      `${provider.displayName} rejected this API key (HTTP ${response.status}); nothing was stored. Check the key (revoked, wrong project or typo) and try again.`,
    );
  }
  throw new LoginkitError(
    'provider_error',
    `${provider.displayName} answered HTTP ${response.status} when checking the key, which does not say whether it is valid; nothing was stored.\nTry again later, or store it without checking: --no-verify`,
  );
}

function requireApiKeys(provider: Provider): ApiKeySettings {
  if (!provider.apiKey) {
    throw new ConfigError(`${provider.displayName} does not take API keys here. Sign in instead: loginkit login ${provider.id}`);
  }
  return provider.apiKey;
}
