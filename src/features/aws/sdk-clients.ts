import type { SSOClient } from '@aws-sdk/client-sso';
import type { SSOOIDCClient } from '@aws-sdk/client-sso-oidc';
import type { STSClient } from '@aws-sdk/client-sts';
import { ConfigError } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import type { AwsTarget } from './settings.js';

// The AWS SDK's own clients make every AWS call (request shapes, errors, signing); loginkit gives them its
// fetch, so that every call is bounded in time and size and goes through the proxy settings like the rest.

/** The AWS SDK packages an AWS provider needs: optional dependencies, loaded on first use. */
export const AWS_PACKAGES = [
  '@aws-sdk/client-sso-oidc',
  '@aws-sdk/client-sso',
  '@aws-sdk/client-sts',
  '@aws/bedrock-token-generator',
  '@smithy/shared-ini-file-loader',
] as const;

/** The three clients of one AWS provider. */
export interface AwsClients {
  readonly oidc: SSOOIDCClient;
  readonly sso: SSOClient;
  /** An STS client that signs with `credentials` (for a chained role). */
  sts(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string }): Promise<STSClient>;
  readonly sdk: {
    readonly oidc: typeof import('@aws-sdk/client-sso-oidc');
    readonly sso: typeof import('@aws-sdk/client-sso');
  };
}

/** Loads an AWS package, or says in one line what to install. */
export async function loadAwsPackage<T>(load: () => Promise<T>, name: (typeof AWS_PACKAGES)[number]): Promise<T> {
  quietNodeVersionNotice();
  try {
    return await load();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' && (error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND')
      throw error;
    throw new ConfigError(
      `AWS providers need the AWS SDK packages, and ${name} is not installed.\nInstall them: npm install ${AWS_PACKAGES.join(' ')}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * The AWS SDK prints a multi-line notice about Node.js versions on the first client it makes; loginkit's
 * output (often a credential_process answer read by another program) must carry none of it.
 */
function quietNodeVersionNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** The clients for a target, with loginkit's fetch underneath. */
export async function awsClients(target: AwsTarget, http: FetchLike): Promise<AwsClients> {
  const [oidc, sso] = await Promise.all([
    loadAwsPackage(() => import('@aws-sdk/client-sso-oidc'), '@aws-sdk/client-sso-oidc'),
    loadAwsPackage(() => import('@aws-sdk/client-sso'), '@aws-sdk/client-sso'),
  ]);
  const common = { region: target.ssoRegion, requestHandler: boundedHandler(http), maxAttempts: 2 };
  return {
    oidc: new oidc.SSOOIDCClient({ ...common, endpoint: target.endpoints.ssoOidc }),
    sso: new sso.SSOClient({ ...common, endpoint: target.endpoints.sso }),
    sts: async (credentials) => {
      const { STSClient } = await loadAwsPackage(() => import('@aws-sdk/client-sts'), '@aws-sdk/client-sts');
      return new STSClient({ ...common, region: target.region, endpoint: target.endpoints.sts, credentials });
    },
    sdk: { oidc, sso },
  };
}

interface SmithyRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number | undefined;
  path: string;
  query?: Record<string, string | string[] | null> | undefined;
  headers: Record<string, string>;
  body?: unknown;
}

/** The SDK's request handler interface, served by a Fetch API function. */
function boundedHandler(http: FetchLike) {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: SmithyRequest) {
      const url = new URL(`${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}${request.path}`);
      for (const [name, value] of Object.entries(request.query ?? {})) {
        for (const one of Array.isArray(value) ? value : value === null ? [] : [value]) url.searchParams.append(name, one);
      }
      const headers = Object.fromEntries(
        Object.entries(request.headers).filter(([name]) => !['host', 'content-length'].includes(name.toLowerCase())),
      );
      const body = request.body === undefined || request.body === null ? undefined : (request.body as NonNullable<RequestInit['body']>);
      // An answer that redirects is an error here, as at every token endpoint: the bearer token must not follow it.
      const response = await http(url, { method: request.method, headers, ...(body === undefined ? {} : { body }), redirect: 'manual' });
      const bytes = new Uint8Array(await response.arrayBuffer());
      return {
        response: {
          statusCode: response.status,
          reason: response.statusText,
          headers: Object.fromEntries(response.headers),
          body: bytes,
        },
      };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  } as unknown as NonNullable<ConstructorParameters<typeof SSOClient>[0]>['requestHandler'];
}
