// One line per official SDK: what each SDK's constructor takes, from the provider's credential in effect.
// The credential travels in the fetch (fresh on every request, renewed once on a 401, never left in the
// SDK's own settings); where an SDK insists on a key of its own, it gets a key function (OpenAI, Anthropic)
// or a placeholder that the fetch replaces. After "Sign in with ChatGPT" the API gets the key the token
// exchange produced, not the ChatGPT access token.
import type { LoginkitContext } from '../context.js';
import type { Provider } from '../providers/registry.js';
import { apiBaseUrl } from '../session/api-keys.js';
import { type CredentialChoice, createFetch, secretFor } from './credentials.js';

/** Options for `new OpenAI(…)` from the `openai` package (also any OpenAI-compatible provider or gateway). */
export interface OpenAIClientOptions {
  /** Called by the SDK before each request; the fetch sets the same credential, renewed when refused. */
  apiKey: () => Promise<string>;
  /**
   * The provider's base URL: config.json's `baseUrl`, else its variable (`OPENAI_BASE_URL`); absent for the
   * SDK's default (absent, not undefined: the SDKs' types take no undefined under `exactOptionalPropertyTypes`).
   */
  baseURL?: string;
  /** Headers from config.json's `headers` for the provider. */
  defaultHeaders: Record<string, string>;
  fetch: typeof fetch;
}

/** Options for `new Anthropic(…)` from `@anthropic-ai/sdk`. */
export type AnthropicClientOptions = OpenAIClientOptions;

/** Options for `new GoogleGenAI(…)` from `@google/genai` (the Gemini API). */
export interface GoogleGenAIClientOptions {
  /** A placeholder the SDK requires; the fetch sends the real key. */
  apiKey: string;
  /** `baseUrl` is absent for the SDK's default. */
  httpOptions: { baseUrl?: string; headers: Record<string, string>; fetch: typeof fetch };
}

/** Settings for the Vercel AI SDK's `createOpenAI(…)` (`@ai-sdk/openai`) or `createAnthropic(…)` (`@ai-sdk/anthropic`). */
export interface AISDKProviderSettings {
  /** A placeholder the SDK requires; the fetch sends the real key. */
  apiKey: string;
  /** Absent for the SDK's default. */
  baseURL?: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

/** What SDKs get in place of a key when the fetch carries the credential (never a secret). */
const PLACEHOLDER_KEY = 'set-by-loginkit';
/** Headers an SDK chooses itself: loginkit fills them in only when the SDK did not. */
const SDK_MANAGED_HEADERS = new Set(['anthropic-version']);

/** `new OpenAI(await kit.openaiOptions())`. */
export async function openaiOptions(ctx: LoginkitContext, id = 'openai', choice: CredentialChoice = {}): Promise<OpenAIClientOptions> {
  const provider = await ctx.providers.find(id);
  const base = baseUrlOf(ctx, provider);
  return {
    apiKey: () => apiToken(ctx, id, choice),
    ...(base === undefined ? {} : { baseURL: base }),
    defaultHeaders: configuredHeaders(provider),
    fetch: createFetch(ctx, id, choice, { signInCredential: 'api' }),
  };
}

/** `new Anthropic(await kit.anthropicOptions())`. */
export function anthropicOptions(ctx: LoginkitContext, id = 'anthropic', choice: CredentialChoice = {}): Promise<AnthropicClientOptions> {
  return openaiOptions(ctx, id, choice);
}

/** `new GoogleGenAI(await kit.googleGenAIOptions())`. */
export async function googleGenAIOptions(
  ctx: LoginkitContext,
  id = 'gemini',
  choice: CredentialChoice = {},
): Promise<GoogleGenAIClientOptions> {
  const provider = await ctx.providers.find(id);
  const base = baseUrlOf(ctx, provider);
  return {
    apiKey: PLACEHOLDER_KEY,
    httpOptions: {
      ...(base === undefined ? {} : { baseUrl: base }),
      headers: configuredHeaders(provider),
      fetch: createFetch(ctx, id, choice, { signInCredential: 'api' }),
    },
  };
}

/** `createOpenAI(await kit.aiSdkOptions('openai'))`, `createAnthropic(await kit.aiSdkOptions('anthropic'))`. */
export async function aiSdkOptions(ctx: LoginkitContext, id: string, choice: CredentialChoice = {}): Promise<AISDKProviderSettings> {
  const provider = await ctx.providers.find(id);
  const base = baseUrlOf(ctx, provider);
  return {
    apiKey: PLACEHOLDER_KEY,
    // The AI SDK's Anthropic provider takes the base URL with the API version (…/v1); Anthropic's own SDK without.
    ...(base === undefined ? {} : { baseURL: id === 'anthropic' ? `${base}/v1` : base }),
    headers: configuredHeaders(provider),
    fetch: createFetch(ctx, id, choice, { signInCredential: 'api' }),
  };
}

/** The key an API takes: an environment or command key, a stored key, or a sign-in's exchanged key (else its access token). */
async function apiToken(ctx: LoginkitContext, id: string, choice: CredentialChoice): Promise<string> {
  const secret = await secretFor(ctx, id, choice);
  if (secret.source === 'cloud') return secret.info.token;
  if (secret.source !== 'store') return secret.value;
  const { credential } = secret;
  return credential.kind === 'api_key' ? credential.key : (credential.apiKey ?? credential.accessToken);
}

function baseUrlOf(ctx: LoginkitContext, provider: Provider): string | undefined {
  return provider.apiKey ? apiBaseUrl(provider.apiKey, ctx.env) : undefined;
}

/** The provider's extra headers, less those the SDK chooses itself. */
function configuredHeaders(provider: Provider): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(provider.apiKey?.extraHeaders ?? {})) {
    if (!SDK_MANAGED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  return headers;
}
