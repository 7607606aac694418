import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import { writeStoreSetting } from '../providers/config-file.js';
import type { MigrateOptions, MigrationResult, ResetResult, StoreReport } from '../store/admin.js';
import { type CredentialStoreOptions, type StoreBackend, resolveSharedStoreUrl } from '../store/select-store.js';
import type { StoreInitOptions, StoreInitResult } from '../store/shared-admin.js';
import { maskUrlCredentials } from '../shared/mask.js';
import { holdsRefreshToken } from '../session/credential.js';
import { namespacedLockName } from '../session/namespaced-store.js';
import { refreshLockName } from '../session/token-session.js';

/** The store file (or shared store): where, how it is protected, which backend is asked for, and whether it opens. */
export async function storeStatus(ctx: LoginkitContext): Promise<StoreReport> {
  const options = storeFileOf(ctx);
  const shared = await resolveSharedStoreUrl(options);
  if (shared) return (await import('../store/shared-admin.js')).inspectSharedStore(shared.url, shared.source, options);
  return (await import('../store/admin.js')).inspectStore(options);
}

/**
 * Creates what the shared store (postgres:// or redis:// in LOGINKIT_STORE or config.json) needs;
 * idempotent. With `generateKey`, a new store gets a new random data key, returned once.
 */
export async function initStore(ctx: LoginkitContext, options: StoreInitOptions = {}): Promise<StoreInitResult> {
  const file = storeFileOf(ctx);
  const shared = await resolveSharedStoreUrl(file);
  if (!shared) {
    throw new ConfigError(
      `The credential store is the local file ${file.path}, created when you first sign in; store init is for shared stores.\nFor a fleet, set LOGINKIT_STORE (or "store" in config.json) to a postgres:// or redis:// URL.`,
    );
  }
  return (await import('../store/shared-admin.js')).initSharedStore(shared.url, shared.source, file, options);
}

/**
 * Moves every credential to another backend without losing any, and records the choice in config.json.
 * `shared` moves this home's local store into the shared store (LOGINKIT_STORE or config.json's URL); a
 * local backend while the store is the shared one moves the shared store's entries into the local file.
 */
export async function migrateStore(
  ctx: LoginkitContext,
  to: StoreBackend | 'shared',
  options: Pick<MigrateOptions, 'onStep' | 'replace'> = {},
): Promise<MigrationResult> {
  const file = storeFileOf(ctx);
  const shared = await resolveSharedStoreUrl(file);
  const writeSetting = (choice: string): Promise<void> => writeStoreSetting(ctx.home, choice);
  if (to === 'shared' || shared) {
    if (!shared) {
      throw new ConfigError(
        'store migrate --to shared moves the local store into the shared store that LOGINKIT_STORE (or "store" in config.json) names, and neither names one.\nSet LOGINKIT_STORE to its postgres:// or redis:// URL (in the environment: the URL holds a password), then run it again.',
      );
    }
    const { MCP_STORE_NAMESPACE } = await import('./mcp/store.js');
    const locksFor = (key: string, value: unknown): string[] => refreshLocksOf(key, value, MCP_STORE_NAMESPACE);
    const { migrateFromShared, migrateToShared } = await import('../store/shared-migrate.js');
    if (to === 'shared') return migrateToShared(file, shared, { ...options, locksFor });
    return migrateFromShared(file, shared, to, { ...options, locksFor, writeSetting });
  }
  const { migrateStore: migrate } = await import('../store/admin.js');
  return migrate(file, to, { onStep: options.onStep, writeSetting });
}

/**
 * The refresh locks of the credentials in one store entry (a credential, or the MCP namespace's entry
 * with its own): held while the entry moves, so that no refresh rewrites it meanwhile.
 */
function refreshLocksOf(key: string, value: unknown, mcpNamespace: string): string[] {
  if (key !== mcpNamespace) return holdsRefreshToken(value) ? [refreshLockName(key)] : [];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value)
    .filter(([, inner]) => holdsRefreshToken(inner))
    .map(([inner]) => namespacedLockName(mcpNamespace, refreshLockName(inner)));
}

/** Moves a store file aside as `credentials.json.corrupt-<time>` (never deletes). */
export async function resetStore(ctx: LoginkitContext, options: { force?: boolean } = {}): Promise<ResetResult> {
  await refuseSharedStore(ctx, 'store reset');
  return (await import('../store/admin.js')).resetStore(storeFileOf(ctx), options);
}

/** Reset moves a local file aside; a shared store is managed in its database. */
async function refuseSharedStore(ctx: LoginkitContext, command: string): Promise<void> {
  const shared = await resolveSharedStoreUrl(storeFileOf(ctx));
  if (!shared) return;
  throw new ConfigError(
    `${command} works on the local store file, and the store is the shared one at ${maskUrlCredentials(shared.url)} (from ${shared.source}).\nUnset LOGINKIT_STORE (or "store" in config.json) to manage the local file.`,
  );
}

function storeFileOf(ctx: LoginkitContext): CredentialStoreOptions {
  if (!ctx.storeFile) throw new ConfigError('Store management works on the store file; this client was given another store.');
  return ctx.storeFile;
}
