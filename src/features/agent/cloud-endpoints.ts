import type { IncomingMessage } from 'node:http';
import type { LoginkitContext } from '../../context.js';
import type { Provider } from '../../providers/registry.js';
import type { EndpointAnswer } from './proxy.js';

// The credential endpoints that clouds' own SDKs already read, served by the agent to brokered children:
// one entry per cloud. AWS: the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI plus
// AWS_CONTAINER_AUTHORIZATION_TOKEN). Azure: App Service's managed identity endpoint (IDENTITY_ENDPOINT plus
// IDENTITY_HEADER). Google Cloud: the metadata server (GCE_METADATA_HOST); its SDKs take only a host:port and
// send no secret, so each child gets a listener of its own, which lives exactly as long as its capability.

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
  /** The endpoint is served on a listener of the child's own (its origin is `url`) rather than below the proxy. */
  readonly ownListener?: true;
  /** The capability the request presents, as the cloud's SDK sends it (on an own listener: the listener itself). */
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

const METADATA_PREFIX = '/computeMetadata/v1/';
const FLAVOR = { 'metadata-flavor': 'Google' };

/** The metadata server's answer: plain text or JSON, always with `Metadata-Flavor: Google` (gcp-metadata checks it). */
function metadata(status: number, body: unknown): EndpointAnswer {
  return { status, body, headers: FLAVOR };
}

const googleCloud: CloudEndpoint = {
  async variables(ctx, provider, profile, url) {
    const { googleExecVariables } = await import('../google-cloud/index.js');
    const settings = await googleExecVariables(ctx, provider, profile);
    // The token comes from the endpoint, fresh each time, rather than once for the child's whole life.
    delete settings.GOOGLE_OAUTH_ACCESS_TOKEN;
    return { ...settings, GCE_METADATA_HOST: new URL(url).host };
  },
  // google-auth-library reads the credentials file first, then the metadata server.
  unset: ['GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_OAUTH_ACCESS_TOKEN', 'METADATA_SERVER_DETECTION', 'GCE_METADATA_IP'],
  ownListener: true,
  presented: () => undefined,
  async answer(ctx, provider, profile, request) {
    // As the real server: the header proves a deliberate request (a browser cannot send it without CORS's leave).
    if (request.headers['metadata-flavor'] !== 'Google' || request.headers['x-forwarded-for'] !== undefined) {
      return metadata(403, 'Missing Metadata-Flavor: Google header');
    }
    if (request.method !== 'GET') return metadata(405, 'GET only');
    const path = new URL(request.url ?? '/', 'http://metadata').pathname;
    if (path === '/' || path === '/computeMetadata/v1' || path === METADATA_PREFIX) return metadata(200, 'instance/\nproject/\n');
    const key = path.startsWith(METADATA_PREFIX) ? path.slice(METADATA_PREFIX.length).replace(/\/+$/, '') : undefined;
    const google = await import('../google-cloud/index.js');
    switch (key) {
      case 'instance':
        return metadata(200, 'service-accounts/\n');
      case 'instance/service-accounts':
        return metadata(200, 'default/\n');
      case 'instance/service-accounts/default/token': {
        const { token, expiresAt } = await google.googleToken(ctx, provider, profile);
        const seconds = Math.max(0, Math.floor((expiresAt - ctx.now()) / 1000));
        return metadata(200, { access_token: token, expires_in: seconds, token_type: 'Bearer' });
      }
      case 'instance/service-accounts/default/email':
        return metadata(200, (await google.googleStatus(ctx, provider)).account ?? 'default');
      case 'instance/service-accounts/default/scopes':
        return metadata(200, `${(await google.googleStatus(ctx, provider)).scopes.join('\n')}\n`);
      case 'project/project-id': {
        const project = (await google.googleStatus(ctx, provider)).project;
        return project ? metadata(200, project) : metadata(404, 'no project: set "project" in config.json');
      }
      case 'universe/universe-domain':
        return metadata(200, 'googleapis.com');
      default:
        return metadata(404, 'not served by the loginkit agent');
    }
  },
};

const azure: CloudEndpoint = {
  async variables(ctx, provider, profile, url, capability) {
    const { azureOpenAIOptions } = await import('../azure/index.js');
    const { endpoint } = azureOpenAIOptions(ctx, provider, profile);
    return { IDENTITY_ENDPOINT: url, IDENTITY_HEADER: capability, ...(endpoint ? { AZURE_OPENAI_ENDPOINT: endpoint } : {}) };
  },
  // @azure/identity's DefaultAzureCredential tries these (environment, workload identity, other managed identities) first.
  unset: [
    'AZURE_CLIENT_ID',
    'AZURE_CLIENT_SECRET',
    'AZURE_CLIENT_CERTIFICATE_PATH',
    'AZURE_CLIENT_CERTIFICATE_PASSWORD',
    'AZURE_USERNAME',
    'AZURE_PASSWORD',
    'AZURE_FEDERATED_TOKEN_FILE',
    'AZURE_OPENAI_API_KEY',
    'AZURE_OPENAI_AD_TOKEN',
    'MSI_ENDPOINT',
    'MSI_SECRET',
    'IDENTITY_SERVER_THUMBPRINT',
    'IMDS_ENDPOINT',
  ],
  presented: (request) => {
    const value = request.headers['x-identity-header'];
    return typeof value === 'string' ? value.trim() : undefined;
  },
  async answer(ctx, provider, profile, request) {
    if (request.method !== 'GET') return { status: 405, body: { error: 'invalid_request', message: 'GET only' } };
    const resource = new URL(request.url ?? '/', 'http://identity').searchParams.get('resource');
    if (!resource || !/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$|^[0-9a-f-]{36}$/i.test(resource)) {
      return { status: 400, body: { error: 'invalid_request', message: 'resource= is required (a URI or an application id)' } };
    }
    const { azureToken } = await import('../azure/index.js');
    const scope = `${resource.replace(/\/+$/, '')}/.default`;
    const made = await azureToken(ctx, provider, { scope, ...(profile ? { profile } : {}) });
    return {
      status: 200,
      body: {
        access_token: made.token,
        expires_on: String(Math.floor(made.expiresAt / 1000)),
        resource,
        token_type: 'Bearer',
      },
    };
  },
};

/** The endpoint of each cloud the agent serves: every cloud a provider can be of. */
export const CLOUD_ENDPOINTS: Readonly<Record<NonNullable<Provider['cloud']>['type'], CloudEndpoint>> = {
  aws,
  'google-cloud': googleCloud,
  azure,
};

/** The endpoint for a cloud type named in a request path, or undefined. */
export function cloudEndpoint(type: string): CloudEndpoint | undefined {
  return Object.hasOwn(CLOUD_ENDPOINTS, type) ? CLOUD_ENDPOINTS[type as keyof typeof CLOUD_ENDPOINTS] : undefined;
}
