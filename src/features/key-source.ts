// Keys from a provider's `keyCommand`, cached for its lifetime: in this client's memory by default, or in
// the credential store (shared by every loginkit process, encrypted like the rest) when the person opts in
// with `"keyCommandCache": "store"`.
import { createHash } from 'node:crypto';
import type { LoginkitContext } from '../context.js';
import type { KeyCommandSetting, Provider } from '../providers/registry.js';
import { runKeyCommand } from '../session/key-command.js';
import type { EnvVars } from '../shared/home.js';

/** A key a command printed, and until when it is reused (ms since the epoch). */
export interface CommandKey {
  key: string;
  expiresAt: number;
}

/** Memory caches, one per client: a key printed for one home is never reused by another. */
const memoryCaches = new WeakMap<LoginkitContext, Map<string, CommandKey & { fingerprint: string }>>();

/** What a store-cached key entry holds (under `keycache:<provider>`, which is not a credential key). */
interface StoredCommandKey {
  fingerprint: string;
  key: string;
  expiresAt: number;
}

/**
 * The key `provider`'s command prints, from the cache while it is fresh. `rejected` is a key a server
 * refused: when the cache still holds it, the command is run again (once: a second caller with the same
 * rejected key gets the key the first run printed).
 */
export async function keyFromCommand(ctx: LoginkitContext, provider: Provider, rejected?: string): Promise<CommandKey> {
  const command = provider.keyCommand as KeyCommandSetting;
  const fingerprint = fingerprintOf(command);
  const cached = await readCache(ctx, provider.id, fingerprint);
  if (cached && (rejected === undefined ? cached.expiresAt > ctx.now() : cached.key !== rejected)) return cached;
  const key = await runKeyCommand(command, ctx.env, (candidate) => keyProblem(provider, candidate, ctx.env));
  const fresh = { key, expiresAt: ctx.now() + command.ttlMs };
  if (command.ttlMs > 0) await writeCache(ctx, provider.id, command, { ...fresh, fingerprint });
  return fresh;
}

/** Why `key` is not shaped like the provider's keys; a gateway (a configured base URL) may issue any printable key. */
function keyProblem(provider: Provider, key: string, env: EnvVars): string | undefined {
  const settings = provider.apiKey;
  if (!/^[\x21-\x7e]{8,4096}$/.test(key)) return 'expected 8–4096 printable characters without spaces';
  if (!settings || settings.format.pattern.test(key)) return undefined;
  const gateway = settings.baseUrlOverride ?? (settings.baseUrlEnvVar ? env[settings.baseUrlEnvVar]?.trim() : undefined);
  return gateway ? undefined : `expected ${settings.format.description}`;
}

/** Changes whenever the command does, so that a cached key never outlives the command that printed it. */
function fingerprintOf(command: KeyCommandSetting): string {
  return createHash('sha256').update(JSON.stringify(command.argv)).digest('base64url').slice(0, 22);
}

function storeKeyOf(provider: string): string {
  return `keycache:${provider}`;
}

async function readCache(ctx: LoginkitContext, provider: string, fingerprint: string): Promise<CommandKey | undefined> {
  const inMemory = memoryCaches.get(ctx)?.get(provider);
  if (inMemory?.fingerprint === fingerprint) return inMemory;
  const stored = (await ctx.store.read())[storeKeyOf(provider)] as Partial<StoredCommandKey> | undefined;
  if (stored?.fingerprint !== fingerprint || typeof stored.key !== 'string' || typeof stored.expiresAt !== 'number') return undefined;
  return { key: stored.key, expiresAt: stored.expiresAt };
}

async function writeCache(ctx: LoginkitContext, provider: string, command: KeyCommandSetting, entry: StoredCommandKey): Promise<void> {
  if (command.cache === 'store') {
    await ctx.store.update((entries) => ({ ...entries, [storeKeyOf(provider)]: entry }));
    return;
  }
  let cache = memoryCaches.get(ctx);
  if (!cache) memoryCaches.set(ctx, (cache = new Map()));
  cache.set(provider, entry);
}
