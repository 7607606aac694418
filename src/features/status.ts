import type { LoginkitContext } from '../context.js';
import { LoginkitError } from '../errors.js';
import { apiKeyFromEnvironment } from '../session/api-keys.js';
import { type Credential, isAccessTokenUsable } from '../session/credential.js';
import { describeCommand } from '../session/key-command.js';
import { maskSecret } from '../shared/mask.js';
import { sanitizePath } from '../shared/printable.js';
import type { Protection } from '../store/entry-store.js';
import type { AwsStatus } from './aws/index.js';
import type { AzureStatus } from './azure/index.js';
import { cloudFeature } from './clouds.js';
import type { GoogleCloudStatus } from './google-cloud/index.js';
import { knownProvider } from './known-provider.js';
import { type ProfileChoice, chooseProfile } from './profile.js';

/** One place a credential was found, as `status` lists it. */
export interface CredentialSource {
  /** `env`: an environment variable; `command`: config.json's `keyCommand`; `oauth` / `api_key`: a stored credential; `aws`: an IAM Identity Center sign-in. */
  kind: 'env' | 'command' | 'oauth' | 'api_key' | 'aws' | 'azure';
  /** The variable's name, the command (never its output), or the stored credential's profile. */
  name: string;
  /** Masked key, or the account, for display. */
  detail: string | null;
  /** The source `token` and `exec` use. */
  inEffect: boolean;
}

/** One provider's state, as `loginkit status` shows it. */
export interface ProviderStatus {
  id: string;
  /** The kind of the credential in effect; null when there is none. */
  method: 'oauth' | 'api_key' | 'aws' | 'google-cloud' | 'azure' | null;
  /** Where the credential in effect comes from. */
  source: 'env' | 'command' | 'store' | null;
  /** For a sign-in imported from Codex or opencode: the tool's file it stays linked to (read on use, written on refresh); else null. */
  linkedTo: string | null;
  /**
   * For a linked sign-in: `linked` (refreshes go both ways), `pending` (loginkit holds newer tokens and writes
   * them back on its next use), `signed-out` (signed out in the tool: loginkit keeps its own copy and writes
   * nothing back), `missing` (the file is gone: the same); else null.
   */
  linkState: 'linked' | 'pending' | 'signed-out' | 'missing' | null;
  /** The key command configured for the provider, as you would type it (its output is never shown); else null. */
  command: string | null;
  /** The profile looked at. */
  profile: string;
  /** What chose the profile: `option` (--profile), `env` (LOGINKIT_PROFILE), `rule` (a project rule), `switch`, or `default`. */
  profileChosenBy: ProfileChoice['chosenBy'];
  /** For a project rule: the file and the directory it covers; else null. */
  profileRule: string | null;
  loggedIn: boolean;
  /** Email, else subject, of the signed-in account. */
  account: string | null;
  scopes: readonly string[];
  /** ISO 8601 expiry of the access token, or null. */
  expiresAt: string | null;
  /** Whether the access token can be renewed without the person. */
  refreshable: boolean;
  /** Where the credential is kept, e.g. `/home/me/.config/loginkit/credentials.json (encrypted (keychain))`. */
  store: string | null;
  /** How it is protected there. */
  protection: Protection | null;
  /** The API key in effect, masked. */
  key: string | null;
  /** For a stored API key: whether the provider accepted it when it was stored (false: imported, or --no-verify); else null. */
  verified: boolean | null;
  /** Subscription plan and workspace, where the provider's ID token says. */
  plan: string | null;
  workspace: string | null;
  /** Every source found, the one in effect marked. */
  sources: CredentialSource[];
  /** The environment variable used instead of this profile's stored credential (as `login` warns); else null. */
  shadowedBy: string | null;
  /** Why this provider's state could not be read (a damaged record), while the others' could; else null. */
  problem: string | null;
  /** For an AWS provider: the IAM Identity Center session, the account and role, and the role credentials; else absent. */
  aws?: AwsStatus;
  /** A Google Cloud provider's source and token (no secrets). */
  google?: GoogleCloudStatus;
  /** For a Microsoft Entra ID provider: the identity in effect, the tenant, the scope and the cached token's expiry; else absent. */
  azure?: AzureStatus;
}

/** The state of one provider, or of every provider with a source (stored, in the environment, a key command) or configured. */
export async function status(ctx: LoginkitContext, id?: string, choice: { profile?: string } = {}): Promise<ProviderStatus[]> {
  if (id !== undefined) {
    await knownProvider(ctx, id);
    return [await statusOf(ctx, id, choice.profile)];
  }
  const [known, stored] = await Promise.all([ctx.providers.list(), ctx.session.storedProviders()]);
  const ids = new Set(stored);
  for (const provider of known) {
    if (!provider.builtin || provider.keyCommand || apiKeyFromEnvironment(provider, ctx.env)) ids.add(provider.id);
  }
  // One provider's damaged record must not hide the state of the others.
  return Promise.all(
    [...ids].sort().map((providerId) => statusOf(ctx, providerId, choice.profile).catch((error: unknown) => unreadable(providerId, error))),
  );
}

/** The status of a provider whose record cannot be read: the reason, and nothing else claimed. */
function unreadable(id: string, error: unknown): ProviderStatus {
  if (!(error instanceof LoginkitError)) throw error;
  return {
    id,
    method: null,
    source: null,
    profile: 'default',
    profileChosenBy: 'default',
    profileRule: null,
    command: null,
    linkedTo: null,
    linkState: null,
    loggedIn: false,
    account: null,
    scopes: [],
    expiresAt: null,
    refreshable: false,
    store: null,
    protection: null,
    key: null,
    verified: null,
    plan: null,
    workspace: null,
    sources: [],
    shadowedBy: null,
    problem: error.message,
  };
}

/** One provider's state: every source found, and the one `token` and `exec` would use. */
export async function statusOf(ctx: LoginkitContext, id: string, explicitProfile: string | undefined): Promise<ProviderStatus> {
  const cloud = await cloudFeature(await ctx.providers.findKnown(id));
  if (cloud) return cloud.status(ctx, await ctx.providers.find(id));
  const [provider, { profile, chosenBy, rule }, stored] = await Promise.all([
    ctx.providers.findKnown(id),
    chooseProfile(ctx, id, explicitProfile),
    ctx.session.credentialsOf(id),
  ]);
  const fromEnv = provider ? apiKeyFromEnvironment(provider, ctx.env) : undefined;
  const found = stored.find((c) => c.profile === profile);
  // A linked sign-in is looked at through its tool's file, which may have changed since loginkit last used it.
  const current = found?.kind === 'oauth' && found.link ? await ctx.session.credential(id, profile) : found;
  const command = provider?.keyCommand ? describeCommand(provider.keyCommand.argv) : null;
  const sources = sourcesOf(fromEnv, command, stored, current);
  const base = {
    id,
    profile,
    profileChosenBy: chosenBy,
    profileRule: rule ?? null,
    command,
    linkedTo: null,
    linkState: null,
    store: null,
    protection: null,
    key: null,
    verified: null,
    plan: null,
    workspace: null,
    sources,
    shadowedBy: fromEnv && current ? fromEnv.variable : null,
    problem: null,
  };
  const nothing = { account: null, scopes: [], expiresAt: null, refreshable: false };
  if (fromEnv) return { ...base, ...nothing, method: 'api_key', source: 'env', loggedIn: true, key: maskSecret(fromEnv.value) };
  // The command is not run: status shows where the key would come from, never the key.
  if (command) return { ...base, ...nothing, method: 'api_key', source: 'command', loggedIn: true };
  if (!current) return { ...base, ...nothing, method: null, source: null, loggedIn: false };
  const { info } = ctx.store;
  const where = { source: 'store' as const, store: `${sanitizePath(info.location)} (${info.protection})`, protection: info.protection };
  if (current.kind === 'api_key') {
    return { ...base, ...nothing, ...where, method: 'api_key', loggedIn: true, key: maskSecret(current.key), verified: current.verified };
  }
  const refreshable = current.refreshToken !== undefined;
  return {
    ...base,
    ...where,
    method: 'oauth',
    loggedIn: refreshable || isAccessTokenUsable(current, ctx.now()),
    account: current.account?.email ?? (current.account?.subject || null),
    scopes: current.scopes,
    expiresAt: isoTime(current.expiresAt),
    refreshable,
    plan: current.account?.plan ?? null,
    workspace: current.account?.workspace ?? null,
    key: current.apiKey ? maskSecret(current.apiKey) : null,
    linkedTo: current.link ? `${sanitizePath(current.link.file)} (${current.link.tool})` : null,
    linkState: current.link ? (current.link.detached ?? (current.link.pending ? 'pending' : 'linked')) : null,
  };
}

function sourcesOf(
  fromEnv: ReturnType<typeof apiKeyFromEnvironment>,
  command: string | null,
  stored: readonly Credential[],
  current: Credential | undefined,
): CredentialSource[] {
  const sources: CredentialSource[] = [];
  if (fromEnv) sources.push({ kind: 'env', name: fromEnv.variable, detail: maskSecret(fromEnv.value), inEffect: true });
  if (command) sources.push({ kind: 'command', name: command, detail: null, inEffect: !fromEnv });
  for (const credential of stored) {
    sources.push({
      kind: credential.kind,
      name: credential.profile,
      detail:
        credential.kind === 'api_key' ? maskSecret(credential.key) : (credential.account?.email ?? credential.account?.subject ?? null),
      inEffect: !fromEnv && !command && credential === current,
    });
  }
  return sources;
}

/** An expiry as ISO 8601; null when there is none or it is beyond what a date can hold (a record written before lifetimes were clamped). */
function isoTime(ms: number | null): string | null {
  if (ms === null) return null;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
