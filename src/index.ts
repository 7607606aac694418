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
export {
  createLoginkit,
  isLoginRequired,
  STORE_FILE,
  type CredentialChoice,
  type CredentialSource,
  type ExecEnvironment,
  type ImportReport,
  type Loginkit,
  type LoginkitOptions,
  type LoginOptions,
  type LoginResult,
  type LogoutResult,
  type ProviderStatus,
  type ProviderSummary,
} from './client.js';
export {
  AccessDeniedError,
  ConfigError,
  LoginkitError,
  LoginRequiredError,
  NetworkError,
  ProviderError,
  StorageError,
  sanitizeServerText,
  type ErrorCode,
} from './errors.js';
export { resolveHome, type Environment } from './home.js';
export { maskSecret } from './importers/mask.js';
export { IMPORT_SOURCES, type ImportSource } from './importers/types.js';
export type { LoginEvent } from './oauth/events.js';
export {
  browserCanReachCallback,
  chooseLoginMethod,
  detectEnvironment,
  type HostProbe,
  type LoginEnvironment,
  type LoginMethod,
  type MethodChoice,
  type SshSession,
} from './environment.js';
export { createPasteBox, type PasteBox } from './oauth/paste-box.js';
export type { PasteRejection } from './oauth/paste.js';
export type { FetchLike } from './oauth/http.js';
export type { RejectionReason } from './oauth/loopback.js';
export type { AccountInfo } from './oauth/tokens.js';
export type { OAuthProviderEntry } from './providers/config-file.js';
export type { Entries, EntryStore, Protection, StoreInfo } from './store/entry-store.js';
export type { MigrateOptions, MigrationResult, MigrationStep, ResetResult, StoreReport } from './store/admin.js';
export { KEYCHAIN_SERVICE, KEYCHAIN_TIMEOUT_MS, SCRYPT_COST } from './store/limits.js';
export type { PassphraseProvider, PassphraseRequest } from './store/passphrase-key.js';
export { STORE_CHOICES, parseStoreChoice, type StoreBackend, type StoreChoice, type StoreSelection } from './store/select-store.js';
