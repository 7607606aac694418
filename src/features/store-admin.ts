import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import { writeStoreSetting } from '../providers/config-file.js';
import type { MigrateOptions, MigrationResult, ResetResult, StoreReport } from '../store/admin.js';
import type { CredentialStoreOptions, StoreBackend } from '../store/select-store.js';

/** The store file: where, how it is protected, which backend is asked for, and whether it opens. */
export async function storeStatus(ctx: LoginkitContext): Promise<StoreReport> {
  return (await import('../store/admin.js')).inspectStore(storeFileOf(ctx));
}

/** Moves every credential to another backend without losing any, and records the choice in config.json. */
export async function migrateStore(
  ctx: LoginkitContext,
  to: StoreBackend,
  options: Pick<MigrateOptions, 'onStep'> = {},
): Promise<MigrationResult> {
  const { migrateStore: migrate } = await import('../store/admin.js');
  return migrate(storeFileOf(ctx), to, { ...options, writeSetting: (choice) => writeStoreSetting(ctx.home, choice) });
}

/** Moves a store file aside as `credentials.json.corrupt-<time>` (never deletes). */
export async function resetStore(ctx: LoginkitContext, options: { force?: boolean } = {}): Promise<ResetResult> {
  return (await import('../store/admin.js')).resetStore(storeFileOf(ctx), options);
}

function storeFileOf(ctx: LoginkitContext): CredentialStoreOptions {
  if (!ctx.storeFile) throw new ConfigError('Store management works on the store file; this client was given another store.');
  return ctx.storeFile;
}
