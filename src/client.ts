import { type LoginkitContext, type LoginkitOptions, createContext } from './context.js';
import { LoginRequiredError } from './errors.js';
import { agentRoute } from './features/agent/route.js';
import type { CredentialChoice, ExecEnvironment, TokenInfo } from './features/credentials.js';
import type { AmazonBedrockSettings, AnthropicBedrockOptions, AwsCredentials, AwsTokenFormat } from './features/aws/index.js';
import type { AnthropicVertexOptions, GoogleVertexSettings, VertexGenAIOptions } from './features/google-cloud/index.js';
import type { OAuth2Client } from 'google-auth-library';
import type { AzureAISdkSettings, AzureOpenAIOptions, AzureToken, AzureTokenCredential } from './features/azure/index.js';
import type { ImportReport } from './features/import.js';
import type { LoginOptions, LoginResult } from './features/login.js';
import type { LogoutResult } from './features/logout.js';
import type { McpClient, McpLoginOptions, McpStatus } from './features/mcp/index.js';
import type { ProjectFile } from './features/project-files.js';
import type { ProviderSummary } from './features/providers.js';
import { type SignIn, type SignInFlowOptions, createSignIn } from './features/sign-in-flow.js';
import type { AISDKProviderSettings, AnthropicClientOptions, GoogleGenAIClientOptions, OpenAIClientOptions } from './features/sdk.js';
import type { ProviderStatus } from './features/status.js';
import type { SwitchResult } from './features/credentials.js';
import type { ImportSource } from './importers/types.js';
import type { FetchLike } from './net/http.js';
import type { ProviderEntry } from './providers/config-file.js';
import type { StoreInfo } from './store/entry-store.js';
import type { MigrateOptions, MigrationResult, ResetResult, StoreReport } from './store/admin.js';
import type { StoreBackend } from './store/select-store.js';
import type { StoreInitOptions, StoreInitResult } from './store/shared-admin.js';

/** A loginkit client bound to one home folder. */
export interface Loginkit {
  readonly home: string;
  /** Where credentials are kept (what the store file says once it exists). */
  readonly store: StoreInfo;
  /** The store file: where, how it is protected, which backend is asked for, and whether it opens. */
  storeStatus(): Promise<StoreReport>;
  /**
   * Moves every credential to another backend without losing any: writes the new store beside the old,
   * reads it back, switches atomically, then removes the old keychain key. `shared` moves them into the
   * shared store (LOGINKIT_STORE or config.json's URL); a local backend while the store is the shared one
   * moves them out of it into the local file. Safe to interrupt: running it again completes the move.
   */
  migrateStore(to: StoreBackend | 'shared', options?: Pick<MigrateOptions, 'onStep' | 'replace'>): Promise<MigrationResult>;
  /**
   * Creates what the shared store (a postgres:// or redis:// URL in LOGINKIT_STORE or config.json) needs:
   * idempotent. `generateKey` gives a new store a new random data key, returned once as `dataKey`;
   * `keychain` saves the store's data key in this machine's OS keychain.
   */
  initStore(options?: StoreInitOptions): Promise<StoreInitResult>;
  /** Moves a store file that cannot be read aside as `credentials.json.corrupt-<time>` (never deletes); `force` for one that can. */
  resetStore(options?: { force?: boolean }): Promise<ResetResult>;
  /** Signs in to a provider through the browser (Authorization Code + PKCE), paste or a device code, and stores the tokens. */
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  /**
   * Starts a sign-in as a state machine for a TUI to render (`getState`, `subscribe`) and drive (`chooseProvider`,
   * `chooseMethod`, `paste`, `submitKey`, `cancel`, `retry`); without `provider` the person picks one.
   */
  startSignIn(provider?: string, options?: Omit<SignInFlowOptions, 'provider'>): SignIn;
  /** Checks an API key's shape, then (unless `verify` is false) asks the provider, then stores it. */
  loginWithApiKey(
    provider: string,
    key: string,
    options?: { profile?: string | undefined; verify?: boolean | undefined },
  ): Promise<LoginResult>;
  /**
   * The secret for the provider: its environment variable when set (unless `source: 'store'`), else the
   * stored API key or a valid access token, refreshed first when due. Throws LoginRequiredError when there is none.
   */
  getToken(provider: string, choice?: CredentialChoice): Promise<string>;
  /** {@link Loginkit.getToken} with the token's type (`oauth` or `api_key`) and until when it may be reused. */
  getTokenInfo(provider: string, choice?: CredentialChoice): Promise<TokenInfo>;
  /**
   * Reports that a server refused `rejected` (HTTP 401) and returns a newer token: an access token is
   * refreshed by force, once, single-flight across processes (whoever reports an already-replaced token
   * gets the replacement); a `keyCommand` is run again once. Throws LoginRequiredError when there is none.
   */
  renewRejectedToken(provider: string, rejected: string, choice?: CredentialChoice): Promise<string>;
  /** The state of one provider, or of every provider with a credential (stored or in the environment) or configured. */
  status(provider?: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<ProviderStatus[]>;
  /** Revokes the provider's tokens at the server (best effort, bounded) and removes them locally. */
  logout(provider: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<LogoutResult>;
  /** Logs out of every stored credential. */
  logoutAll(): Promise<LogoutResult[]>;
  /**
   * Makes `profile` the one used for `provider` when none is named; `here` says which profile is in effect in
   * the working directory, where a project rule or `LOGINKIT_PROFILE` wins over the switch.
   */
  switchProfile(provider: string, profile: string): Promise<SwitchResult>;
  /**
   * Every `.loginkit.json` from the working directory up (nearest first) and its state: only allowed ones
   * choose a profile; one waiting to be allowed carries the command that allows it.
   */
  projectFiles(): Promise<ProjectFile[]>;
  /**
   * Allows a project's `.loginkit.json` as it is now (by path and content hash, as `direnv allow` does): `path`
   * is the file or a folder (default: the working directory), whose nearest `.loginkit.json` at or above it is meant.
   */
  allowProjectFile(path?: string): Promise<ProjectFile>;
  /** Takes a project's `.loginkit.json` off the allow list (`path` as in {@link Loginkit.allowProjectFile}). */
  denyProjectFile(path?: string): Promise<{ file: string; removed: boolean }>;
  /**
   * Reads another tool's credential file and stores its API keys under the active profile and its OAuth
   * sign-ins (linked to the file, written back on refresh) under profile `chatgpt`, both under `profile` when
   * given; never replaces a credential already there. `dryRun` only reports.
   */
  importCredentials(source: ImportSource, options?: { dryRun?: boolean; profile?: string }): Promise<ImportReport>;
  /** The variables `exec` sets for these providers (API keys, fresh access tokens). */
  execEnvironment(providers: readonly string[], choice?: CredentialChoice): Promise<ExecEnvironment>;
  /** Providers configured in this home. */
  providers(): Promise<ProviderSummary[]>;
  /** The provider called `id` (built in or configured), or a ConfigError. */
  provider(id: string): Promise<ProviderSummary>;
  /** Adds or replaces a provider entry in config.json after validating it. */
  addProvider(id: string, entry: ProviderEntry): Promise<ProviderSummary>;
  /**
   * A fetch (typed `typeof fetch`, so SDKs take it) that authenticates as the provider's credential in
   * effect: sets the provider's header (removing conflicting ones), refreshes when due, and on a 401 renews
   * once and retries once when the body can be sent again; the final 401 or 403 is returned unchanged.
   */
  createFetch(provider: string, choice?: CredentialChoice): typeof fetch;
  /** `new OpenAI(await kit.openaiOptions())`: key function, base URL, headers and fetch for the `openai` SDK (any OpenAI-compatible provider). */
  openaiOptions(provider?: string, choice?: CredentialChoice): Promise<OpenAIClientOptions>;
  /** `new Anthropic(await kit.anthropicOptions())`: the same for `@anthropic-ai/sdk`. */
  anthropicOptions(provider?: string, choice?: CredentialChoice): Promise<AnthropicClientOptions>;
  /** `new GoogleGenAI(await kit.googleGenAIOptions())`: the same for `@google/genai` (Gemini API). */
  googleGenAIOptions(provider?: string, choice?: CredentialChoice): Promise<GoogleGenAIClientOptions>;
  /** `createOpenAI(await kit.aiSdkOptions('openai'))` / `createAnthropic(await kit.aiSdkOptions('anthropic'))`: the Vercel AI SDK providers. */
  aiSdkOptions(provider: string, choice?: CredentialChoice): Promise<AISDKProviderSettings>;
  /**
   * The MCP server at `url`: an `AuthProvider` for the official SDK's transports (`authProvider: kit.mcp(url)`),
   * `createFetch()` for a fetch that handles every challenge, and `login`, `status`, `logout`, `check`.
   */
  mcp(url: string | URL, options?: McpLoginOptions): McpClient;
  /** Every MCP server with a stored sign-in. */
  mcpStatus(): Promise<McpStatus[]>;
  /**
   * An AWS provider's credential in `format`: a short-term Bedrock API key, or the JSON of AWS
   * `credential_process`; with the role credentials and the region. Refreshed first when due.
   */
  awsToken(provider: string, format: AwsTokenFormat, choice?: Pick<CredentialChoice, 'profile'>): Promise<AwsToken>;
  /** `new BedrockRuntimeClient({ region, credentials: kit.awsCredentials('bedrock') })`: an AWS SDK credential provider of fresh role credentials. */
  awsCredentials(provider: string): () => Promise<AwsCredentials>;
  /** `new AnthropicBedrock(await kit.anthropicBedrockOptions('bedrock'))`: `@anthropic-ai/bedrock-sdk` signing with the provider's role credentials. */
  anthropicBedrockOptions(provider: string): Promise<AnthropicBedrockOptions>;
  /** `createAmazonBedrock(await kit.amazonBedrockOptions('bedrock'))`: the AI SDK's Amazon Bedrock provider, the same way. */
  amazonBedrockOptions(provider: string): Promise<AmazonBedrockSettings>;
  /** A google-auth-library `OAuth2Client` that authorises with a Google Cloud provider's token (what Google's SDKs take as `authClient`). */
  googleAuthClient(provider: string): Promise<OAuth2Client>;
  /** `new GoogleGenAI(await kit.vertexGenAIOptions('vertex'))`: `@google/genai` in Vertex AI mode with the provider's token. */
  vertexGenAIOptions(provider: string): Promise<VertexGenAIOptions>;
  /** `new AnthropicVertex(await kit.anthropicVertexOptions('vertex'))`: `@anthropic-ai/vertex-sdk` with the provider's token. */
  anthropicVertexOptions(provider: string): Promise<AnthropicVertexOptions>;
  /** `createVertex(await kit.googleVertexOptions('vertex'))`: the AI SDK's `@ai-sdk/google-vertex` with the provider's token. */
  googleVertexOptions(provider: string): Promise<GoogleVertexSettings>;
  /**
   * A Microsoft Entra ID provider's access token for `scope` (default: the provider's), with its expiry and
   * source; from the store while it has over five minutes left, else made now (single-flight across processes).
   */
  azureToken(provider: string, choice?: { scope?: string; profile?: string }): Promise<AzureToken>;
  /** `new AzureOpenAI({ ...(await kit.azureOpenAIOptions('azure')), apiVersion })`: the `openai` package's AzureOpenAI with Entra ID tokens. */
  azureOpenAIOptions(provider: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<AzureOpenAIOptions>;
  /** `createAzure(await kit.azureAISdkSettings('azure'))`: the AI SDK's Azure OpenAI provider with Entra ID tokens. */
  azureAISdkSettings(provider: string, choice?: Pick<CredentialChoice, 'profile'>): Promise<AzureAISdkSettings>;
  /** An Azure SDK `TokenCredential` of the provider's Entra ID tokens, for any scope (`getBearerTokenProvider(kit.azureCredential('azure'), scope)`). */
  azureCredential(provider: string, choice?: Pick<CredentialChoice, 'profile'>): AzureTokenCredential;
  /**
   * Releases what the client holds open: a shared store's database connections (a local store holds
   * none). Call it when a long-running process is done with the client; the client must not be used afterwards.
   */
  close(): Promise<void>;
}

/**
 * Creates a loginkit client. Nothing is read or written until a method is called, and each capability's
 * code is loaded on its first use (so `getToken` in a short-lived process loads neither sign-in nor import).
 * With `LOGINKIT_AGENT_SOCK` set, tokens, status and `execEnvironment` come from the running `loginkit agent`
 * (the store is not opened here; without the agent they come from the store, or fail with `LOGINKIT_AGENT_ONLY=1`).
 */
export function createLoginkit(options: LoginkitOptions = {}): Loginkit {
  const ctx = createContext(options);
  const credentials = lazy(() => import('./features/credentials.js'));
  const providers = lazy(() => import('./features/providers.js'));
  const storeAdmin = lazy(() => import('./features/store-admin.js'));
  const login = lazy(() => import('./features/login.js'));
  const logout = lazy(() => import('./features/logout.js'));
  const sdk = lazy(() => import('./features/sdk.js'));
  const projectFiles = lazy(() => import('./features/project-files.js'));
  const aws = lazy(() => import('./features/aws/index.js'));
  const google = lazy(() => import('./features/google-cloud/index.js'));
  const vertex = async (id: string) => (await google()).vertexOptions(ctx, await ctx.providers.find(id));
  const azure = lazy(() => import('./features/azure/index.js'));
  const agent = agentRoute(ctx.env, ctx.cwd);
  const tokenInfo = async (id: string, choice: CredentialChoice | undefined): Promise<TokenInfo> => {
    const local = async (): Promise<TokenInfo> => (await credentials()).getTokenInfo(ctx, id, choice);
    return agent ? agent.getTokenInfo(id, choice ?? {}, local) : local();
  };
  const kit: Loginkit = {
    home: ctx.home,
    get store() {
      return ctx.store.info;
    },
    storeStatus: async () => (await storeAdmin()).storeStatus(ctx),
    migrateStore: async (to, migrate) => (await storeAdmin()).migrateStore(ctx, to, migrate),
    initStore: async (init) => (await storeAdmin()).initStore(ctx, init),
    resetStore: async (reset) => (await storeAdmin()).resetStore(ctx, reset),
    login: async (id, loginOptions) => (await login()).login(ctx, id, loginOptions),
    loginWithApiKey: async (id, key, keyOptions) => (await login()).loginWithApiKey(ctx, id, key, keyOptions),
    startSignIn: (id, flowOptions) => createSignIn(kit, { ...flowOptions, ...(id !== undefined ? { provider: id } : {}) }),
    getToken: async (id, choice) => (await tokenInfo(id, choice)).token,
    getTokenInfo: tokenInfo,
    renewRejectedToken: async (id, rejected, choice) => (await credentials()).renewRejectedToken(ctx, id, rejected, choice),
    status: async (id, choice) => {
      const local = async (): Promise<ProviderStatus[]> => (await import('./features/status.js')).status(ctx, id, choice);
      return agent ? agent.status(id, choice ?? {}, local) : local();
    },
    logout: async (id, choice) => (await logout()).logout(ctx, id, choice),
    logoutAll: async () => (await logout()).logoutAll(ctx),
    switchProfile: async (id, profile) => (await credentials()).switchProfile(ctx, id, profile),
    projectFiles: async () => (await projectFiles()).projectFiles(ctx).then((found) => found.map(publicProjectFile)),
    allowProjectFile: async (path) => (await projectFiles()).allowProjectFile(ctx, path),
    denyProjectFile: async (path) => (await projectFiles()).denyProjectFile(ctx, path),
    importCredentials: async (source, importOptions) =>
      (await import('./features/import.js')).importCredentials(ctx, source, importOptions),
    execEnvironment: async (ids, choice) => {
      const local = async (): Promise<ExecEnvironment> => (await credentials()).execEnvironment(ctx, ids, choice);
      return agent ? agent.execEnvironment(ids, choice ?? {}, local) : local();
    },
    providers: async () => (await providers()).listProviders(ctx),
    provider: async (id) => (await providers()).describeProvider(ctx, id),
    addProvider: async (id, entry) => (await providers()).addProvider(ctx, id, entry),
    createFetch: (id, choice) => lazyFetch(ctx, credentials, id, choice),
    openaiOptions: async (id, choice) => (await sdk()).openaiOptions(ctx, id, choice),
    anthropicOptions: async (id, choice) => (await sdk()).anthropicOptions(ctx, id, choice),
    googleGenAIOptions: async (id, choice) => (await sdk()).googleGenAIOptions(ctx, id, choice),
    aiSdkOptions: async (id, choice) => (await sdk()).aiSdkOptions(ctx, id, choice),
    mcp: (url, mcpOptions) => lazyMcpClient(ctx, url, mcpOptions),
    mcpStatus: async () => (await import('./features/mcp/index.js')).mcpStatusAll(ctx),
    awsToken: async (id, format, choice) => (await aws()).awsToken(ctx, await ctx.providers.find(id), format, choice?.profile),
    awsCredentials: (id) => async () => (await aws()).awsCredentials(ctx, await ctx.providers.find(id)),
    anthropicBedrockOptions: async (id) => (await aws()).anthropicBedrockOptions(ctx, await ctx.providers.find(id)),
    amazonBedrockOptions: async (id) => (await aws()).amazonBedrockSettings(ctx, await ctx.providers.find(id)),
    googleAuthClient: async (id) => (await google()).googleAuthClient(ctx, await ctx.providers.find(id)),
    vertexGenAIOptions: async (id) => {
      const { project, location, authClient } = await vertex(id);
      return { vertexai: true, ...(project === undefined ? {} : { project }), location, googleAuthOptions: { authClient } };
    },
    anthropicVertexOptions: async (id) => {
      const { project, location, authClient } = await vertex(id);
      return { projectId: project ?? null, region: location, authClient };
    },
    googleVertexOptions: async (id) => {
      const { project, location, authClient } = await vertex(id);
      return { ...(project === undefined ? {} : { project }), location, googleAuthOptions: { authClient } };
    },
    azureToken: async (id, choice) => (await azure()).azureToken(ctx, await ctx.providers.find(id), choice),
    azureOpenAIOptions: async (id, choice) => (await azure()).azureOpenAIOptions(ctx, await ctx.providers.find(id), choice?.profile),
    azureAISdkSettings: async (id, choice) => (await azure()).azureAISdkSettings(ctx, await ctx.providers.find(id), choice?.profile),
    azureCredential: (id, choice) => ({
      getToken: async (scopes) => (await azure()).azureCredential(ctx, await ctx.providers.find(id), choice?.profile).getToken(scopes),
    }),
    close: async () => {
      agent?.close();
      await ctx.store.close?.();
    },
  };
  return kit;
}

/** A project file as the API shows it: without the parsed rule kept for profile choice. */
function publicProjectFile({ file, directory, state, profile, providers, problem, allowCommand }: ProjectFile): ProjectFile {
  return { file, directory, state, profile, providers, problem, allowCommand };
}

/** An AWS provider's credential as `awsToken` returns it. */
export interface AwsToken {
  /** The Bedrock API key, or the credential_process JSON. */
  token: string;
  /** ms since the epoch: when the role credentials (and so the token) expire. */
  expiresAt: number;
  credentials: AwsCredentials;
  region: string;
}

/** True when `error` means the person has to sign in again. */
export function isLoginRequired(error: unknown): error is LoginRequiredError {
  return error instanceof LoginRequiredError;
}

/** A module loader that loads once and then answers from memory (the `getToken` hot path). */
function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

/** `createFetch` is synchronous; its feature module loads on the first request. */
function lazyFetch(
  ctx: LoginkitContext,
  credentials: () => Promise<typeof import('./features/credentials.js')>,
  id: string,
  choice: CredentialChoice | undefined,
): typeof fetch {
  let authenticated: typeof fetch | undefined;
  return async (input: string | URL | Request, init?: RequestInit) => {
    authenticated ??= (await credentials()).createFetch(ctx, id, choice);
    return authenticated(input, init);
  };
}

/** `mcp(url)` is synchronous (it goes into a transport's options); its feature module loads on first use. */
function lazyMcpClient(ctx: LoginkitContext, url: string | URL, options: McpLoginOptions | undefined): McpClient {
  let loaded: Promise<McpClient> | undefined;
  const client = (): Promise<McpClient> =>
    (loaded ??= import('./features/mcp/index.js').then(({ mcpClient }) => mcpClient(ctx, url, options)));
  let fetch: FetchLike | undefined;
  return {
    url: String(url),
    token: async () => (await client()).token(),
    onUnauthorized: async (context) => (await client()).onUnauthorized(context),
    createFetch: () => async (input, init) => {
      fetch ??= (await client()).createFetch();
      return fetch(input, init);
    },
    login: async () => (await client()).login(),
    status: async () => (await client()).status(),
    logout: async () => (await client()).logout(),
    saveClient: async () => (await client()).saveClient(),
    check: async (checkOptions) => (await client()).check(checkOptions),
  };
}
