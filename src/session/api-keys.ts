import { ConfigError, LoginkitError, NetworkError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import { maskUrlCredentials } from '../shared/mask.js';
import type { FetchLike } from '../net/http.js';
import type { ApiKeySettings, Provider } from '../providers/registry.js';

/** The API's base URL: config.json's `baseUrl`, else the provider's base-URL variable, else the documented default. */
export function apiBaseUrl(settings: ApiKeySettings, env: EnvVars): string {
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
export function apiKeyFromEnvironment(provider: Provider, env: EnvVars): { variable: string; value: string } | undefined {
  for (const variable of provider.apiKey?.envVars ?? []) {
    const value = env[variable]?.trim();
    if (value) return { variable, value };
  }
  return undefined;
}

/**
 * Checks that `key` has the provider's documented shape. A badly shaped key is refused (a usage error naming
 * the shape), unless a base URL is configured: gateways and proxies (LiteLLM, a company gateway) issue keys
 * of their own shape, so then the answer is a warning to pass on and the key is kept.
 */
export function checkApiKeyFormat(provider: Provider, key: string, env: EnvVars): { warning?: string } {
  const settings = requireApiKeys(provider);
  if (settings.format.pattern.test(key)) return {};
  const shape = `That does not look like ${withArticle(provider.displayName)} API key (expected ${settings.format.description})`;
  const gateway = configuredBaseUrl(settings, env);
  if (gateway)
    return {
      warning: `${shape}; kept, since the base URL is set to ${maskUrlCredentials(gateway)} (a gateway may issue keys of its own shape).`,
    };
  const where = settings.baseUrlEnvVar ? `${settings.baseUrlEnvVar} or "baseUrl"` : '"baseUrl"';
  throw new LoginkitError(
    'usage',
    `${shape}; nothing was stored.\nA key for a gateway or proxy? Set its base URL (${where} for "${provider.id}" in config.json) and the shape is not enforced.`,
  );
}

/** The base URL the person configured (config.json, else the provider's variable), when they did. */
function configuredBaseUrl(settings: ApiKeySettings, env: EnvVars): string | undefined {
  return settings.baseUrlOverride ?? ((settings.baseUrlEnvVar && env[settings.baseUrlEnvVar]?.trim()) || undefined);
}

/** "an OpenAI", "a Groq": the article a display name takes (by its first letter, which is right for these names). */
function withArticle(name: string): string {
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/**
 * Asks the provider whether it accepts `key`, with its cheapest authenticated request. Resolves when it
 * does; a refused key, an unclear answer or an unreachable service each throw a clear error.
 */
export async function verifyApiKey(provider: Provider, key: string, http: FetchLike, env: EnvVars): Promise<void> {
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
        `${error.message.split('\n')[0]} The key was not checked or stored; to store it without checking: --no-verify (library: \`verify: false\`)`,
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
  if (response.status === 404) {
    throw new LoginkitError(
      'provider_error',
      `${maskUrlCredentials(url)} answered HTTP 404 when checking the key: is the base URL right? Nothing was stored.\nFix ${settings.baseUrlEnvVar ?? '"baseUrl"'} (or "baseUrl" for "${provider.id}" in config.json), or store the key without checking: --no-verify (library: \`verify: false\`)`,
    );
  }
  throw new LoginkitError(
    'provider_error',
    `${provider.displayName} answered HTTP ${response.status} when checking the key, which does not say whether it is valid; nothing was stored.\nTry again later, or store it without checking: --no-verify (library: \`verify: false\`)`,
  );
}

function requireApiKeys(provider: Provider): ApiKeySettings {
  if (!provider.apiKey) {
    throw new ConfigError(`${provider.displayName} does not take API keys here. Sign in instead: loginkit login ${provider.id}`);
  }
  return provider.apiKey;
}
