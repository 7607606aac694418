import type { LoginkitContext } from '../../context.js';
import type { Provider } from '../../providers/registry.js';
import { type CloudFeature, cloudLoginResult, cloudLogoutResult, cloudStatus } from '../clouds.js';
import type { ProviderStatus } from '../status.js';
import { googleExecVariables, googleLogin, googleLogout, googleStatus, googleToken } from './index.js';

/** Google Cloud as a cloud provider of the generic features. */
export const googleCloudFeature: CloudFeature = {
  async login(ctx, provider, options) {
    const { target, token } = await googleLogin(ctx, provider, options);
    return cloudLoginResult(ctx, provider, {
      method: 'google-cloud',
      account: token.account ? { subject: token.account } : undefined,
      scopes: target.scopes,
      expiresAt: token.expiresAt,
    });
  },
  async tokenInfo(ctx, provider, profile) {
    const { token, expiresAt } = await googleToken(ctx, provider, profile);
    return { token, expiresAt, type: 'oauth' };
  },
  async execVariables(ctx, provider, profile) {
    return { variables: await googleExecVariables(ctx, provider, profile), unset: [] };
  },
  status: statusOf,
  async logout(ctx, provider) {
    const ended = await googleLogout(ctx, provider);
    return cloudLogoutResult(provider, ended);
  },
};

/** A Google Cloud provider's state, read without any request. */
async function statusOf(ctx: LoginkitContext, provider: Provider): Promise<ProviderStatus> {
  const google = await googleStatus(ctx, provider);
  const { info } = ctx.store;
  const loggedIn = google.problem === null;
  return cloudStatus({
    id: provider.id,
    method: loggedIn ? 'google-cloud' : null,
    source: loggedIn ? 'store' : null,
    linkedTo: google.source === 'sign-in' ? null : `${google.from}${google.source === 'adc' ? ' (gcloud ADC)' : ''}`,
    linkState: null,
    loggedIn,
    account: google.account,
    scopes: google.scopes,
    expiresAt: google.tokenExpiresAt,
    refreshable: loggedIn,
    store: `${info.location} (${info.protection})`,
    protection: info.protection,
    key: google.token,
    sources: [],
    problem: google.problem,
    google,
  });
}
