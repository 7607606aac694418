import type { LoginkitContext } from '../../context.js';
import type { Provider } from '../../providers/registry.js';
import { type CloudFeature, cloudLogoutResult, cloudStatus } from '../clouds.js';
import type { ProviderStatus } from '../status.js';
import { AZURE_SHADOWING_VARIABLES, azureExecVariables, azureLogin, azureLogout, azureStatus, azureToken } from './index.js';

/** Microsoft Entra ID as a cloud provider of the generic features. */
export const azureFeature: CloudFeature = {
  login: azureLogin,
  async tokenInfo(ctx, provider, profile) {
    const { token, expiresAt } = await azureToken(ctx, provider, { profile });
    return { token, expiresAt, type: 'oauth' };
  },
  async execVariables(ctx, provider, profile) {
    return { variables: await azureExecVariables(ctx, provider, profile), unset: AZURE_SHADOWING_VARIABLES };
  },
  status: statusOf,
  async logout(ctx, provider) {
    const { profile, removed } = await azureLogout(ctx, provider);
    // Entra ID has no revocation endpoint for these tokens: they end locally, and at their expiry.
    return cloudLogoutResult(provider, { removed, revocation: 'unsupported' }, profile);
  },
};

/** An Entra ID provider's state: the identity in effect and the token held, read without any request. */
async function statusOf(ctx: LoginkitContext, provider: Provider): Promise<ProviderStatus> {
  const azure = await azureStatus(ctx, provider);
  const { info } = ctx.store;
  const now = ctx.now();
  // A person must have signed in; whether the Azure CLI has is known only once it ran (status makes no request);
  // the other identities make a token whenever asked.
  const holdsToken = azure.tokenExpiresAt !== null && Date.parse(azure.tokenExpiresAt) > now;
  const loggedIn = azure.source === 'person' ? azure.refreshable || holdsToken : azure.source === 'azure-cli' ? holdsToken : true;
  return cloudStatus({
    id: provider.id,
    method: loggedIn ? 'azure' : null,
    source: loggedIn ? (azure.source === 'person' ? 'store' : 'env') : null,
    linkedTo: null,
    linkState: null,
    loggedIn,
    account: azure.account ?? (azure.source === 'person' ? null : azure.source),
    scopes: [azure.scope],
    expiresAt: azure.tokenExpiresAt,
    refreshable: azure.refreshable || azure.source !== 'person',
    store: `${info.location} (${info.protection})`,
    protection: info.protection,
    key: null,
    sources: loggedIn ? [{ kind: 'azure', name: azure.source, detail: azure.tenant, inEffect: true }] : [],
    problem: null,
    azure,
  });
}
