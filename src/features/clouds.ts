import type { LoginkitContext } from '../context.js';
import type { Provider } from '../providers/registry.js';
import type { TokenInfo } from './credentials.js';
import type { LoginOptions, LoginResult } from './login.js';
import type { LogoutResult } from './logout.js';
import type { ProviderStatus } from './status.js';
import type { Ending } from '../session/token-session.js';

// Cloud identities (AWS IAM Identity Center, …) are providers whose credential is made by the cloud's own
// module: each implements this interface, and the generic features hand a cloud provider to it. A cloud's
// module, and its SDK, load only when one of its providers is used.

/**
 * What every cloud module does for the generic features. A cloud keeps what it stores under the store key
 * `<type>:<provider id>` (`aws:bedrock`), which is how `logout --all` finds the cloud providers to end.
 */
export interface CloudFeature {
  /** Signs the person in; `profile` other than the default is refused where the cloud has no profiles. */
  login(ctx: LoginkitContext, provider: Provider, options: LoginOptions): Promise<LoginResult>;
  /** The credential `token` prints and `getToken` returns, refreshed first when due. */
  tokenInfo(ctx: LoginkitContext, provider: Provider, profile: string | undefined): Promise<TokenInfo>;
  /** The variables `exec` sets, and those it removes because they would shadow them in the child. */
  execVariables(
    ctx: LoginkitContext,
    provider: Provider,
    profile: string | undefined,
  ): Promise<{ variables: Record<string, string>; unset: readonly string[] }>;
  /** The provider's state, read without any request. */
  status(ctx: LoginkitContext, provider: Provider): Promise<ProviderStatus>;
  /** Signs out at the cloud where it can, and removes what loginkit (and a linked tool's cache) holds. */
  logout(ctx: LoginkitContext, provider: Provider): Promise<LogoutResult>;
}

/** The cloud module of a cloud provider; undefined for every other provider. */
export async function cloudFeature(provider: Provider | undefined): Promise<CloudFeature | undefined> {
  switch (provider?.cloud?.type) {
    case 'aws':
      return (await import('./aws/feature.js')).awsFeature;
    case 'google-cloud':
      return (await import('./google-cloud/feature.js')).googleCloudFeature;
    case 'azure':
      return (await import('./azure/feature.js')).azureFeature;
    case undefined:
      return undefined;
  }
}

/** The parts of a cloud provider's status that its cloud knows; the rest is the same for every cloud. */
export type CloudStatusFields = Pick<
  ProviderStatus,
  'id' | 'method' | 'source' | 'linkedTo' | 'linkState' | 'loggedIn' | 'account' | 'scopes' | 'expiresAt' | 'refreshable'
> &
  Pick<ProviderStatus, 'store' | 'protection' | 'key' | 'sources' | 'problem' | 'aws' | 'google' | 'azure'>;

/** A cloud provider's status: clouds have no loginkit profiles, project rules, key checks or plans. */
export function cloudStatus(fields: CloudStatusFields): ProviderStatus {
  return {
    command: null,
    profile: 'default',
    profileChosenBy: 'default',
    profileRule: null,
    shadowedBy: null,
    verified: null,
    plan: null,
    workspace: null,
    ...fields,
  };
}

/** What `logout` says of a cloud provider, from what its module ended (`profile`: where a cloud keeps a person's sign-in under one). */
export function cloudLogoutResult(
  provider: Provider,
  ended: { removed: boolean } & Pick<Ending, 'revocation' | 'revocationError'>,
  profile = 'default',
): LogoutResult {
  return {
    provider: provider.id,
    profile,
    profileRule: null,
    ...ended,
    ...(ended.removed ? {} : { revocation: 'not_signed_in' as const }),
  };
}

/** What `login` says of a cloud provider's sign-in: clouds have no loginkit profiles (the default one) or rules. */
export function cloudLoginResult(
  ctx: LoginkitContext,
  provider: Provider,
  signedIn: Pick<LoginResult, 'method' | 'account' | 'scopes'> & { expiresAt: number },
): LoginResult {
  return {
    provider: provider.id,
    profile: 'default',
    profileChosenBy: 'default',
    profileRule: null,
    method: signedIn.method,
    account: signedIn.account,
    scopes: signedIn.scopes,
    expiresAt: new Date(signedIn.expiresAt).toISOString(),
    store: ctx.store.info,
  };
}
