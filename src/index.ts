/**
 * loginkit: sign in to AI services and keep credentials safe and fresh.
 *
 * ```ts
 * import { createLoginkit } from 'loginkit';
 * const kit = createLoginkit();
 * await kit.login('acme');
 * const token = await kit.getToken('acme');
 * ```
 * @packageDocumentation
 */
import type { AgentHandle, AgentOptions } from './features/agent/server.js';

export { createLoginkit, isLoginRequired, type AwsToken, type Loginkit } from './client.js';
export type { AmazonBedrockSettings, AnthropicBedrockOptions, AwsCredentials, AwsStatus, AwsTokenFormat } from './features/aws/index.js';
export type { AnthropicVertexOptions, GoogleCloudStatus, GoogleVertexSettings, VertexGenAIOptions } from './features/google-cloud/index.js';
export type {
  AzureAISdkSettings,
  AzureOpenAIOptions,
  AzureSource,
  AzureStatus,
  AzureToken,
  AzureTokenCredential,
} from './features/azure/index.js';
export { STORE_FILE, type LoginkitOptions } from './context.js';
export type { CredentialChoice, ExecEnvironment, SwitchResult, TokenInfo } from './features/credentials.js';
export type { AISDKProviderSettings, AnthropicClientOptions, GoogleGenAIClientOptions, OpenAIClientOptions } from './features/sdk.js';
export type { ImportReport } from './features/import.js';
export type { LoginOptions, LoginResult } from './features/login.js';
export type { PersonOptions } from './features/person-side.js';
export type { LogoutResult } from './features/logout.js';
export type { McpCheckOptions, McpCheckResult, McpClient, McpLoginOptions, McpLogoutResult, McpStatus } from './features/mcp/index.js';
export type { ProjectFile } from './features/project-files.js';
export type { ProviderSummary } from './features/providers.js';
export {
  PASTE_REJECTION_TEXT,
  cancellable,
  createSignIn,
  methodsOf,
  nextSignInState,
  type SignIn,
  type SignInActivity,
  type SignInDriver,
  type SignInFlowOptions,
  type SignInMethod,
  type SignInNotice,
  type SignInProvider,
  type SignInRoute,
  type SignInState,
} from './features/sign-in-flow.js';
export type { CredentialSource, ProviderStatus } from './features/status.js';
export {
  ConfigError,
  LoginkitError,
  LoginRequiredError,
  NetworkError,
  ProviderError,
  ResponseTooLargeError,
  SignInTimeoutError,
  UnknownProviderError,
  StorageError,
  causeChain,
  sanitizeServerText,
  type ErrorCode,
} from './errors.js';
export { resolveHome, type EnvVars } from './shared/home.js';
export { maskSecret } from './shared/mask.js';
export { childEnvironment } from './shared/child-env.js';
export { STDIN_SECRET_MAX_BYTES, readBoundedText } from './shared/bounded-read.js';
export { IMPORT_SOURCES, type ImportSource } from './importers/types.js';
export type { LoginEvent } from './sign-in/events.js';
export { loginEventLines } from './sign-in/instructions.js';
export {
  browserCanReachCallback,
  chooseLoginMethod,
  detectEnvironment,
  type HostProbe,
  type LoginEnvironment,
  type LoginMethod,
  type MethodChoice,
  type SshSession,
} from './sign-in/login-environment.js';
export { createPasteBox, type PasteBox } from './sign-in/paste-box.js';
export type { PasteRejection } from './sign-in/paste.js';
export type { FetchLike } from './net/http.js';
export type { RejectionReason } from './sign-in/loopback.js';
export type { AccountInfo } from './oauth/tokens.js';
export type { OAuthProviderEntry } from './providers/config-file.js';
export type { Entries, EntryStore, Protection, StoreInfo } from './store/entry-store.js';
export type {
  MigrateOptions,
  MigrationResult,
  MigrationStep,
  ResetResult,
  SharedBackend,
  SharedKeyReport,
  StoreReport,
} from './store/admin.js';
export type { DataKeyOrigin } from './store/shared-keys.js';
export type { KeychainEntry, StoreInitOptions, StoreInitResult } from './store/shared-admin.js';
export { KEYCHAIN_SERVICE, KEYCHAIN_TIMEOUT_MS, SCRYPT_COST } from './store/limits.js';
export type { PassphraseProvider, PassphraseRequest } from './store/passphrase-key.js';
export { STORE_CHOICES, parseStoreChoice, type StoreBackend, type StoreChoice, type StoreSelection } from './store/select-store.js';
// Types the ones above are made of, so that an application can name them.
export type { ProviderEntry } from './providers/config-file.js';
export type { Skipped } from './importers/types.js';
export type { ProfileChoice } from './features/profile.js';
export type { Ending } from './session/token-session.js';
export type { McpBinding } from './session/mcp-binding.js';
export type { MethodRequest } from './sign-in/login-environment.js';
export type { StateProblem } from './oauth/callback-state.js';
export type { LockOptions } from './store/entry-store.js';
export type { AzureIdentity } from './providers/registry.js';
export type { NonInteractiveSource } from './features/azure/identity.js';
export { AgentConnection, AgentUnavailableError, type AgentAddress } from './features/agent/connection.js';
export { connectAgent } from './features/agent/control.js';
export { AGENT_ONLY_VARIABLE, AGENT_SOCK_VARIABLE, type AgentStatus, type BrokeredChild } from './features/agent/protocol.js';
export type { AgentHandle, AgentOptions } from './features/agent/server.js';

/** Starts `loginkit agent` in this process (see docs/agent.md). */
export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  return (await import('./features/agent/server.js')).startAgent(options);
}
