import type { LoginkitContext } from '../../context.js';
import type { Provider } from '../../providers/registry.js';
import { type CloudFeature, cloudLoginResult, cloudLogoutResult, cloudStatus } from '../clouds.js';
import type { ProviderStatus } from '../status.js';
import { AWS_SHADOWING_VARIABLES, awsExecVariables, awsLogin, awsLogout, awsSignedIn, awsStatus, awsToken } from './index.js';

/** AWS IAM Identity Center as a cloud provider of the generic features. */
export const awsFeature: CloudFeature = {
  async login(ctx, provider, options) {
    const { target, session } = await awsLogin(ctx, provider, options);
    return cloudLoginResult(ctx, provider, {
      method: 'aws',
      account: { subject: `${target.accountId}/${target.roleName}` },
      scopes: target.registrationScopes,
      expiresAt: session.expiresAt,
    });
  },
  async tokenInfo(ctx, provider, profile) {
    const { token, expiresAt } = await awsToken(ctx, provider, 'bedrock-api-key', profile);
    return { token, expiresAt, type: 'api_key' };
  },
  async execVariables(ctx, provider, profile) {
    return { variables: await awsExecVariables(ctx, provider, profile), unset: AWS_SHADOWING_VARIABLES };
  },
  status: statusOf,
  async logout(ctx, provider) {
    const ended = await awsLogout(ctx, provider);
    return cloudLogoutResult(provider, ended);
  },
};

/** An AWS provider's state: its session and role credentials, read without any request. */
async function statusOf(ctx: LoginkitContext, provider: Provider): Promise<ProviderStatus> {
  const aws = await awsStatus(ctx, provider);
  const { info } = ctx.store;
  const loggedIn = awsSignedIn(aws, ctx.now());
  return cloudStatus({
    id: provider.id,
    method: loggedIn ? 'aws' : null,
    source: loggedIn ? 'store' : null,
    linkedTo: `${aws.cacheFile} (AWS CLI)`,
    linkState: aws.sessionFoundIn ? 'linked' : null,
    loggedIn,
    account: `${aws.accountId}/${aws.roleName}`,
    scopes: [],
    expiresAt: aws.credentialsExpireAt ?? aws.sessionExpiresAt,
    refreshable: aws.sessionRefreshable,
    store: `${info.location} (${info.protection})`,
    protection: info.protection,
    key: aws.accessKeyId,
    sources: aws.sessionFoundIn ? [{ kind: 'aws', name: aws.sessionFoundIn, detail: aws.startUrl, inEffect: true }] : [],
    problem: null,
    aws,
  });
}
