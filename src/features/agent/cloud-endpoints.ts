import type { IncomingMessage } from 'node:http';
import type { LoginkitContext } from '../../context.js';
import type { Provider } from '../../providers/registry.js';
import type { EndpointAnswer } from './proxy.js';

// The credential endpoints that clouds' own SDKs already read, served by the agent to brokered children:
// one entry per cloud. AWS: the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI plus
// AWS_CONTAINER_AUTHORIZATION_TOKEN). Google Cloud (GCE_METADATA_HOST) and Azure (IDENTITY_ENDPOINT plus
// IDENTITY_HEADER) get an entry here when their providers land.

/** One cloud's endpoint. */
export interface CloudEndpoint {
  /** The child's variables: where the endpoint is (`url`, below the proxy) and the capability it presents. */
  variables(
    ctx: LoginkitContext,
    provider: Provider,
    profile: string | undefined,
    url: string,
    capability: string,
  ): Promise<Record<string, string>>;
  /** Variables removed from the child, since the SDK would prefer them to the endpoint. */
  readonly unset: readonly string[];
  /** The capability the request presents, as the cloud's SDK sends it. */
  presented(request: IncomingMessage): string | undefined;
  /** The answer for a live capability. */
  answer(ctx: LoginkitContext, provider: Provider, profile: string | undefined, request: IncomingMessage): Promise<EndpointAnswer>;
}

const aws: CloudEndpoint = {
  async variables(ctx, provider, profile, url, capability) {
    const { awsTarget } = await import('../aws/index.js');
    const { region } = await awsTarget(ctx, provider, profile);
    return {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: url,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: capability,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
    };
  },
  unset: [
    'AWS_PROFILE',
    'AWS_DEFAULT_PROFILE',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_CREDENTIAL_EXPIRATION',
    'AWS_BEARER_TOKEN_BEDROCK',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
  ],
  presented: (request) => {
    const value = request.headers.authorization;
    return typeof value === 'string' ? value.trim() : undefined;
  },
  async answer(ctx, provider, profile, request) {
    if (request.method !== 'GET') return { status: 405, body: { message: 'GET only' } };
    const { awsCredentials } = await import('../aws/index.js');
    const credentials = await awsCredentials(ctx, provider, profile);
    return {
      status: 200,
      body: {
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        Token: credentials.sessionToken,
        Expiration: credentials.expiration.toISOString(),
      },
    };
  },
};

/** The endpoint of each cloud the agent serves. */
export const CLOUD_ENDPOINTS: Readonly<Record<string, CloudEndpoint>> = { aws };
