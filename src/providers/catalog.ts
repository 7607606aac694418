// The built-in providers as data: what each service's key looks like, where its official SDK looks for
// it, and the cheapest authenticated request that tells a good key from a rejected one. Every entry
// names the documentation it was taken from; when a provider changes, fix the entry, not the code.

/** How a person can sign in to a provider. */
export type AuthMethod = 'oauth' | 'api_key' | 'aws' | 'google-cloud' | 'azure';

/** The shape a provider's keys have, checked before any request is made. */
export interface KeyFormat {
  /** Matches a whole, well-formed key (anchored, no flags). */
  pattern: RegExp;
  /** The expected shape as a noun phrase ("\"gsk_\" and 20 or more letters and digits"), for the message that refuses a key. */
  description: string;
}

/** The request header that carries the key. */
export interface KeyHeader {
  /** Header name as the provider documents it. */
  name: string;
  /** When set, the header value is `<scheme> <key>`; otherwise it is the bare key. */
  scheme?: 'Bearer';
}

/** Everything needed to take, check and hand out an API key for one provider. */
export interface ApiKeySpec {
  /**
   * Environment variables that hold the key. The first is the conventional one (what `exec` sets);
   * the others are read too, in the order the provider's SDK prefers them.
   */
  envVars: readonly string[];
  /** The variable the official SDK reads to override the base URL, where it has one. */
  baseUrlEnvVar?: string;
  /** The API's base URL as the official SDK defines it, without a trailing slash. */
  defaultBaseUrl: string;
  /** True when there is no usable default and the base URL must be given (Azure's resource endpoint). */
  baseUrlRequired?: boolean;
  /** Where the key goes. */
  header: KeyHeader;
  /** Headers every request must also carry. */
  extraHeaders?: Readonly<Record<string, string>>;
  /** The documented or observed shape of a key. */
  format: KeyFormat;
  /** The cheapest authenticated request: `path` (which may carry a query) is appended to the base URL. */
  validation: {
    method: 'GET';
    path: string;
    /** Statuses that mean the key was accepted. */
    okStatuses: readonly number[];
    /** Statuses that mean the key itself was refused; anything else is inconclusive. */
    rejectedStatuses: readonly number[];
  };
}

/** A ready-made OAuth client registration, overridable in config.json. */
export interface OAuthPreset {
  issuer: string;
  clientId: string;
  scopes: readonly string[];
  /** The exact redirect URI the client is registered for. */
  redirectUri: string;
  /** Ports to try, in order, when the redirect URI's port is busy. */
  fallbackRedirectPorts?: readonly number[];
  /** Extra parameters for the authorization request. */
  authorizeParams?: Readonly<Record<string, string>>;
  /** True when the token and revocation endpoints take JSON bodies instead of form encoding. */
  jsonBodyEndpoints?: boolean;
  /**
   * After sign-in, trade the ID token for an API key with the token-exchange grant (RFC 8693), asking for
   * this `requested_token`; the key is kept with the sign-in and handed out by `exec`.
   */
  apiKeyExchange?: { requestedToken: string };
  /** A device-code protocol of the provider's own instead of RFC 8628 (OpenAI's, as Codex CLI uses it). */
  deviceProtocol?: 'openai';
  /** Endpoints known without discovery, so tokens imported from another tool can be refreshed and revoked offline. */
  knownEndpoints?: { token: string; revocation?: string };
  /** Where the ID token keeps account facts beyond the standard claims: each a list of claim paths, first match wins. */
  accountClaims?: {
    email?: readonly (readonly string[])[];
    plan?: readonly (readonly string[])[];
    workspace?: readonly (readonly string[])[];
  };
}

/** One built-in provider. */
export interface ProviderSpec {
  /** Stable identifier used on the command line and in the store. */
  id: string;
  displayName: string;
  /** Sign-in methods offered, the preferred one first. */
  methods: readonly AuthMethod[];
  apiKey?: ApiKeySpec;
  oauth?: OAuthPreset;
  /** Where `exec` puts an OAuth access token. */
  accessTokenEnvVar?: string;
  /** The page these facts were checked against. */
  docsUrl: string;
  /** A restriction the provider places on a method, shown when someone asks for it. */
  policyNote?: string;
}

/** `Authorization: Bearer <key>`, the header most providers use. */
const BEARER = { name: 'Authorization', scheme: 'Bearer' } as const;

/** Printable ASCII without spaces, 20–512 characters: for keys with no documented shape. */
const OPAQUE_KEY: KeyFormat = {
  pattern: /^[\x21-\x7e]{20,512}$/,
  description: '20–512 printable characters without spaces',
};

/** Every built-in provider, in the order a picker shows them. */
export const BUILTIN_PROVIDERS: readonly ProviderSpec[] = [
  // https://platform.openai.com/docs/api-reference/models/list
  // OAuth preset: the public client of OpenAI's open-source Codex CLI ("Sign in with ChatGPT").
  {
    id: 'openai',
    displayName: 'OpenAI',
    methods: ['oauth', 'api_key'],
    apiKey: {
      envVars: ['OPENAI_API_KEY'],
      baseUrlEnvVar: 'OPENAI_BASE_URL',
      defaultBaseUrl: 'https://api.openai.com/v1',
      header: BEARER,
      // Project (sk-proj-), service-account (sk-svcacct-), project-less user (sk-None-) and legacy
      // user keys (sk- and letters/digits only, which keeps sk-ant-… and sk-or-v1-… out).
      format: {
        pattern: /^sk-(?:(?:proj|svcacct|None)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,})$/,
        description:
          '"sk-proj-", "sk-svcacct-" or "sk-None-" and 20 or more letters, digits, _ or -; or "sk-" and 20 or more letters and digits',
      },
      validation: { method: 'GET', path: '/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    oauth: {
      issuer: 'https://auth.openai.com',
      clientId: 'app_EMoamEEZ73f0CkXaXp7hrann',
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      redirectUri: 'http://localhost:1455/auth/callback',
      fallbackRedirectPorts: [1457],
      authorizeParams: { id_token_add_organizations: 'true', codex_cli_simplified_flow: 'true' },
      jsonBodyEndpoints: true,
      knownEndpoints: { token: 'https://auth.openai.com/oauth/token', revocation: 'https://auth.openai.com/oauth/revoke' },
      apiKeyExchange: { requestedToken: 'openai-api-key' },
      deviceProtocol: 'openai',
      accountClaims: {
        email: [['email'], ['https://api.openai.com/profile', 'email']],
        plan: [['https://api.openai.com/auth', 'chatgpt_plan_type']],
        workspace: [['https://api.openai.com/auth', 'chatgpt_account_id']],
      },
    },
    // A ChatGPT access token is not an API key: putting it in OPENAI_API_KEY would only fail later.
    accessTokenEnvVar: 'OPENAI_ACCESS_TOKEN',
    docsUrl: 'https://platform.openai.com/docs/api-reference/models/list',
    policyNote: "Sign in with ChatGPT uses the public client of OpenAI's open-source Codex CLI and is subject to OpenAI's terms.",
  },
  // https://platform.claude.com/docs/en/api/models-list
  {
    id: 'anthropic',
    displayName: 'Anthropic',
    methods: ['api_key'],
    apiKey: {
      envVars: ['ANTHROPIC_API_KEY'],
      baseUrlEnvVar: 'ANTHROPIC_BASE_URL',
      defaultBaseUrl: 'https://api.anthropic.com',
      header: { name: 'x-api-key' },
      extraHeaders: { 'anthropic-version': '2023-06-01' },
      // sk-ant-api03-…; the pattern refuses sk-ant-oat01-… (subscription OAuth tokens) on purpose.
      format: {
        pattern: /^sk-ant-api\d{2}-[A-Za-z0-9_-]{20,}$/,
        description: '"sk-ant-api03-" and 20 or more letters, digits, _ or -',
      },
      validation: { method: 'GET', path: '/v1/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://platform.claude.com/docs/en/api/models-list',
    policyNote:
      "Anthropic's terms forbid using Claude Free, Pro or Max subscription credentials in third-party tools; use an API key from the Claude Console.",
  },
  // https://ai.google.dev/gemini-api/docs/api-key and https://ai.google.dev/api/models#method:-models.list
  {
    id: 'gemini',
    displayName: 'Google Gemini (AI Studio)',
    methods: ['api_key'],
    apiKey: {
      // Google's SDKs read both and prefer GOOGLE_API_KEY when both are set; GEMINI_API_KEY is the
      // name Google's docs and gemini-cli use, so it comes first as the one `exec` sets.
      envVars: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
      baseUrlEnvVar: 'GOOGLE_GEMINI_BASE_URL',
      defaultBaseUrl: 'https://generativelanguage.googleapis.com',
      header: { name: 'x-goog-api-key' },
      // Standard keys are AIza + 35 characters; AI Studio now issues "auth keys" starting with AQ.
      format: {
        pattern: /^(?:AIza[0-9A-Za-z_-]{35}|AQ\.[0-9A-Za-z_.-]{20,})$/,
        description: '"AIza" and 35 more characters (39 in all), or "AQ." and 20 or more for newer auth keys',
      },
      // An invalid key is 400 API_KEY_INVALID; a blocked or leaked one is 403 PERMISSION_DENIED.
      validation: { method: 'GET', path: '/v1beta/models', okStatuses: [200], rejectedStatuses: [400, 401, 403] },
    },
    docsUrl: 'https://ai.google.dev/gemini-api/docs/api-key',
  },
  // https://docs.mistral.ai/api/#tag/models
  {
    id: 'mistral',
    displayName: 'Mistral AI',
    methods: ['api_key'],
    apiKey: {
      envVars: ['MISTRAL_API_KEY'],
      defaultBaseUrl: 'https://api.mistral.ai',
      header: BEARER,
      format: OPAQUE_KEY, // no documented prefix (32 letters and digits in practice)
      validation: { method: 'GET', path: '/v1/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://docs.mistral.ai/api/#tag/models',
  },
  // https://console.groq.com/docs/api-reference#models-list
  {
    id: 'groq',
    displayName: 'Groq',
    methods: ['api_key'],
    apiKey: {
      envVars: ['GROQ_API_KEY'],
      baseUrlEnvVar: 'GROQ_BASE_URL',
      defaultBaseUrl: 'https://api.groq.com', // the SDK appends /openai/v1/… itself
      header: BEARER,
      format: { pattern: /^gsk_[A-Za-z0-9]{20,}$/, description: '"gsk_" and 20 or more letters and digits' },
      validation: { method: 'GET', path: '/openai/v1/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://console.groq.com/docs/api-reference#models-list',
  },
  // https://docs.x.ai/developers/rest-api-reference ; statuses: https://docs.x.ai/developers/debugging
  {
    id: 'xai',
    displayName: 'xAI (Grok)',
    methods: ['api_key'],
    apiKey: {
      envVars: ['XAI_API_KEY'],
      defaultBaseUrl: 'https://api.x.ai/v1',
      header: BEARER,
      format: { pattern: /^xai-[A-Za-z0-9]{20,}$/, description: '"xai-" and 20 or more letters and digits' },
      // xAI documents 400 for an incorrect key and 401 for a missing or invalid token.
      validation: { method: 'GET', path: '/models', okStatuses: [200], rejectedStatuses: [400, 401] },
    },
    docsUrl: 'https://docs.x.ai/developers/rest-api-reference',
  },
  // https://api-docs.deepseek.com/api/list-models
  {
    id: 'deepseek',
    displayName: 'DeepSeek',
    methods: ['api_key'],
    apiKey: {
      envVars: ['DEEPSEEK_API_KEY'],
      defaultBaseUrl: 'https://api.deepseek.com',
      header: BEARER,
      // Undocumented; keys seen are sk- + 32 hex digits, indistinguishable from old OpenAI keys.
      format: { pattern: /^sk-[A-Za-z0-9]{20,}$/, description: '"sk-" and 20 or more letters and digits' },
      validation: { method: 'GET', path: '/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://api-docs.deepseek.com/api/list-models',
  },
  // https://openrouter.ai/docs/api/api-reference/api-keys/get-current-api-key
  {
    id: 'openrouter',
    displayName: 'OpenRouter',
    methods: ['api_key'],
    apiKey: {
      envVars: ['OPENROUTER_API_KEY'],
      defaultBaseUrl: 'https://openrouter.ai/api/v1',
      header: BEARER,
      format: { pattern: /^sk-or-v1-[A-Za-z0-9]{32,}$/, description: '"sk-or-v1-" and 32 or more letters and digits' },
      // GET /models is public on OpenRouter, so it proves nothing; GET /key needs the key.
      validation: { method: 'GET', path: '/key', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://openrouter.ai/docs/api/api-reference/api-keys/get-current-api-key',
  },
  // https://docs.together.ai/reference/models
  {
    id: 'together',
    displayName: 'Together AI',
    methods: ['api_key'],
    apiKey: {
      envVars: ['TOGETHER_API_KEY'],
      baseUrlEnvVar: 'TOGETHER_BASE_URL',
      defaultBaseUrl: 'https://api.together.xyz/v1',
      header: BEARER,
      format: OPAQUE_KEY, // 64 hex digits for older keys, tgp_v1_… for newer ones; neither documented
      validation: { method: 'GET', path: '/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://docs.together.ai/reference/models',
  },
  // https://docs.fireworks.ai/tools-sdks/openai-compatibility
  {
    id: 'fireworks',
    displayName: 'Fireworks AI',
    methods: ['api_key'],
    apiKey: {
      envVars: ['FIREWORKS_API_KEY'],
      defaultBaseUrl: 'https://api.fireworks.ai/inference/v1',
      header: BEARER,
      format: OPAQUE_KEY, // newer keys start with fw_, older ones have no prefix
      validation: { method: 'GET', path: '/models', okStatuses: [200], rejectedStatuses: [401, 403] },
    },
    docsUrl: 'https://docs.fireworks.ai/tools-sdks/openai-compatibility',
  },
  // https://docs.cohere.com/reference/list-models
  {
    id: 'cohere',
    displayName: 'Cohere',
    methods: ['api_key'],
    apiKey: {
      // The official SDKs read CO_API_KEY and CO_API_URL; COHERE_API_KEY is what most other tools use.
      envVars: ['CO_API_KEY', 'COHERE_API_KEY'],
      baseUrlEnvVar: 'CO_API_URL',
      defaultBaseUrl: 'https://api.cohere.com',
      header: BEARER,
      format: OPAQUE_KEY, // 40 letters and digits in practice, no prefix
      validation: { method: 'GET', path: '/v1/models', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://docs.cohere.com/reference/list-models',
  },
  // https://docs.perplexity.ai/api-reference/async-sonar-get
  {
    id: 'perplexity',
    displayName: 'Perplexity',
    methods: ['api_key'],
    apiKey: {
      envVars: ['PERPLEXITY_API_KEY', 'PPLX_API_KEY'],
      baseUrlEnvVar: 'PERPLEXITY_BASE_URL',
      defaultBaseUrl: 'https://api.perplexity.ai',
      header: BEARER,
      format: { pattern: /^pplx-[A-Za-z0-9]{20,}$/, description: '"pplx-" and 20 or more letters and digits' },
      // Listing your async requests is free and needs the key; a chat completion would cost money.
      validation: { method: 'GET', path: '/v1/async/sonar', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://docs.perplexity.ai/api-reference/async-sonar-get',
  },
  // https://huggingface.co/docs/hub/security-tokens ; HF_TOKEN/HF_ENDPOINT: huggingface_hub environment variables
  {
    id: 'huggingface',
    displayName: 'Hugging Face',
    methods: ['api_key'],
    apiKey: {
      envVars: ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'],
      baseUrlEnvVar: 'HF_ENDPOINT',
      defaultBaseUrl: 'https://huggingface.co',
      header: BEARER,
      format: { pattern: /^hf_[A-Za-z0-9]{30,}$/, description: '"hf_" and 30 or more letters and digits' },
      validation: { method: 'GET', path: '/api/whoami-v2', okStatuses: [200], rejectedStatuses: [401] },
    },
    docsUrl: 'https://huggingface.co/docs/hub/security-tokens',
  },
  // https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list
  {
    id: 'azure-openai',
    displayName: 'Azure OpenAI',
    methods: ['api_key'],
    apiKey: {
      envVars: ['AZURE_OPENAI_API_KEY'],
      baseUrlEnvVar: 'AZURE_OPENAI_ENDPOINT',
      // Only a placeholder: every resource has its own endpoint, which must be given.
      defaultBaseUrl: 'https://your-resource.openai.azure.com',
      baseUrlRequired: true,
      header: { name: 'api-key' },
      format: OPAQUE_KEY, // 32 hex digits for older keys, 84 characters for newer ones
      validation: {
        method: 'GET',
        path: '/openai/models?api-version=2024-10-21',
        okStatuses: [200],
        rejectedStatuses: [401, 403],
      },
    },
    docsUrl: 'https://learn.microsoft.com/en-us/rest/api/azureopenai/models/list',
  },
];
