import type { LoginkitContext } from '../context.js';
import { apiKeyFromEnvironment } from '../session/api-keys.js';
import type { Credential } from '../session/credential.js';
import type { Ending } from '../session/token-session.js';
import { cloudFeature } from './clouds.js';
import { knownProvider } from './known-provider.js';
import { chooseProfile } from './profile.js';

/** What `logout` did. `not_signed_in`: there was nothing to end. */
export interface LogoutResult {
  provider: string;
  profile: string;
  /** For a profile chosen by a project rule: the file and the directory it covers; else null (also for `logoutAll`). */
  profileRule: string | null;
  /** Whether a local credential was removed. */
  removed: boolean;
  /**
   * `revoked`: the server confirmed; `unsupported`: it has no revocation endpoint; `failed`: it could not be
   * reached or refused; `local_only`: an API key, which only the provider's console can revoke.
   */
  revocation: Ending['revocation'] | 'not_signed_in';
  /** Why revocation failed, when it did. */
  revocationError?: string;
  /** An environment variable that still holds a key for this provider: `token` and `exec` go on using it. */
  stillInEffect?: string;
}

/** Revokes the provider's tokens at the server (best effort, bounded) and removes them locally. */
export async function logout(ctx: LoginkitContext, id: string, choice: { profile?: string } = {}): Promise<LogoutResult> {
  const provider = await knownProvider(ctx, id);
  const cloud = await cloudFeature(provider);
  if (cloud && provider) return cloud.logout(ctx, provider);
  const { profile, rule } = await chooseProfile(ctx, id, choice.profile);
  const credential = await ctx.session.credential(id, profile);
  const variable = provider && apiKeyFromEnvironment(provider, ctx.env)?.variable;
  const inEffect = { profileRule: rule ?? null, ...(variable ? { stillInEffect: variable } : {}) };
  if (!credential) return { provider: id, profile, removed: false, revocation: 'not_signed_in', ...inEffect };
  return { ...(await end(ctx, credential)), ...inEffect };
}

/** Logs out of every stored credential, one after the other, then of every cloud provider that holds one. */
export async function logoutAll(ctx: LoginkitContext): Promise<LogoutResult[]> {
  const results: LogoutResult[] = [];
  for (const credential of await ctx.session.credentials()) results.push(await end(ctx, credential));
  // A cloud keeps its credentials under `<type>:<id>` keys, which only its module can end (an SSO Logout, a cache file).
  const keys = Object.keys(await ctx.store.read());
  for (const provider of await ctx.providers.list()) {
    const type = provider.cloud?.type;
    if (!type || !keys.some((key) => key === `${type}:${provider.id}`)) continue;
    const cloud = await cloudFeature(provider);
    const result = await cloud?.logout(ctx, provider);
    if (result?.removed) results.push(result);
  }
  return results;
}

async function end(ctx: LoginkitContext, credential: Credential): Promise<LogoutResult> {
  return { provider: credential.provider, profile: credential.profile, profileRule: null, ...(await ctx.session.end(credential)) };
}
