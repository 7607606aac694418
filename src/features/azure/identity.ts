import type { TokenCredential, TokenCredentialOptions } from '@azure/identity';
import { ConfigError, LoginRequiredError, LoginkitError, ProviderError, causeChain, sanitizeServerText } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import type { EnvVars } from '../../shared/home.js';
import { MICROSOFT_AUTHORITY_HOSTS, type AzureTarget } from './settings.js';

// The non-interactive identities are @azure/identity's credentials (an optional dependency, loaded on first
// use): it knows each protocol (client assertions, the managed-identity endpoints, the Azure CLI). loginkit
// hands it its own HTTP client, so every call is bounded in time and size and follows the proxy settings.

/** The identities @azure/identity provides. */
export type NonInteractiveSource = 'service-principal' | 'workload-identity' | 'managed-identity' | 'azure-cli';

/** A token from one of them (times in ms since the epoch). */
interface IdentityToken {
  accessToken: string;
  expiresAt: number;
}

type AzureIdentityModule = typeof import('@azure/identity');
type HttpClient = NonNullable<TokenCredentialOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;

/** Loads @azure/identity, or says in one line what to install. */
async function loadAzureIdentity(): Promise<AzureIdentityModule> {
  try {
    return await import('@azure/identity');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new ConfigError(
      "Azure identities other than a person's sign-in need @azure/identity, which is not installed.\nInstall it: npm install @azure/identity",
      {
        cause: error,
      },
    );
  }
}

/** The source `auto` picks from the environment when no person has signed in, in @azure/identity's order (IMDS only when chosen). */
export function sourceFromEnvironment(target: AzureTarget, env: EnvVars): NonInteractiveSource {
  if (env['AZURE_CLIENT_SECRET'] || target.certificatePath) return 'service-principal';
  if (env['AZURE_FEDERATED_TOKEN_FILE']) return 'workload-identity';
  if (env['IDENTITY_ENDPOINT'] || env['MSI_ENDPOINT']) return 'managed-identity';
  return 'azure-cli';
}

/** A token for `scope` from the identity `source`, asked of Entra ID (or the managed-identity endpoint, or the Azure CLI) now. */
export async function identityToken(
  source: NonInteractiveSource,
  target: AzureTarget,
  scope: string,
  io: { env: EnvVars; http: FetchLike; timeoutMs: number },
): Promise<IdentityToken> {
  const identity = await loadAzureIdentity();
  const credential = credentialFor(identity, source, target, io);
  let token: Awaited<ReturnType<TokenCredential['getToken']>>;
  try {
    token = await credential.getToken(scope, { abortSignal: AbortSignal.timeout(io.timeoutMs) });
  } catch (error) {
    throw unavailable(error, source, target);
  }
  if (!token) throw new LoginkitError('provider_error', `${describeSource(source)} gave no token for "${target.providerId}".`);
  return { accessToken: token.token, expiresAt: token.expiresOnTimestamp };
}

function credentialFor(
  identity: AzureIdentityModule,
  source: NonInteractiveSource,
  target: AzureTarget,
  io: { env: EnvVars; http: FetchLike; timeoutMs: number },
): TokenCredential {
  const host = new URL(target.authorityHost).hostname;
  const options = {
    authorityHost: target.authorityHost,
    httpClient: httpClientOver(io.http),
    // MSAL asks Microsoft about an authority it does not know; a private or local one answers for itself.
    disableInstanceDiscovery: !MICROSOFT_AUTHORITY_HOSTS.has(host),
  };
  switch (source) {
    case 'service-principal': {
      const { tenant, clientId } = requireApp(target, source);
      const secret = io.env['AZURE_CLIENT_SECRET'];
      if (secret) return new identity.ClientSecretCredential(tenant, clientId, secret, options);
      if (!target.certificatePath) {
        throw new ConfigError(
          `A service principal needs AZURE_CLIENT_SECRET, or a certificate: "certificatePath" in config.json or AZURE_CLIENT_CERTIFICATE_PATH.`,
        );
      }
      const certificatePassword = io.env['AZURE_CLIENT_CERTIFICATE_PASSWORD'];
      return new identity.ClientCertificateCredential(
        tenant,
        clientId,
        { certificatePath: target.certificatePath, ...(certificatePassword ? { certificatePassword } : {}) },
        options,
      );
    }
    case 'workload-identity': {
      const { tenant, clientId } = requireApp(target, source);
      const tokenFilePath = io.env['AZURE_FEDERATED_TOKEN_FILE'];
      if (!tokenFilePath)
        throw new ConfigError(
          'Workload identity needs AZURE_FEDERATED_TOKEN_FILE (set by the platform: AKS, GitHub Actions with azure/login).',
        );
      return new identity.WorkloadIdentityCredential({ tenantId: tenant, clientId, tokenFilePath, ...options });
    }
    case 'managed-identity':
      // A user-assigned identity is named by its client ID; without one, the system-assigned identity answers.
      return target.clientId
        ? new identity.ManagedIdentityCredential({ clientId: target.clientId, ...options })
        : new identity.ManagedIdentityCredential(options);
    case 'azure-cli':
      return new identity.AzureCliCredential({
        ...(target.tenant ? { tenantId: target.tenant } : {}),
        processTimeoutInMs: io.timeoutMs,
      });
  }
}

function requireApp(target: AzureTarget, source: NonInteractiveSource): { tenant: string; clientId: string } {
  if (!target.tenant || !target.clientId) {
    throw new ConfigError(
      `${describeSource(source)} needs the app's tenant and client ID: set "tenant" and "clientId" in config.json, or AZURE_TENANT_ID and AZURE_CLIENT_ID.`,
    );
  }
  return { tenant: target.tenant, clientId: target.clientId };
}

/** How a source is named in messages. */
export function describeSource(source: NonInteractiveSource): string {
  switch (source) {
    case 'service-principal':
      return 'A service principal';
    case 'workload-identity':
      return 'Workload identity';
    case 'managed-identity':
      return 'The managed identity';
    case 'azure-cli':
      return 'The Azure CLI';
  }
}

/** What @azure/identity threw, as one of loginkit's errors: ours pass through, an absent Azure CLI login means "sign in". */
function unavailable(error: unknown, source: NonInteractiveSource, target: AzureTarget): unknown {
  const ours = causeChain(error).find((link): link is LoginkitError => link instanceof LoginkitError);
  if (ours) return ours;
  if (source === 'azure-cli' && (error as { name?: unknown }).name === 'CredentialUnavailableError') {
    return new LoginRequiredError(
      target.providerId,
      `Not signed in to "${target.providerId}", and no Azure identity was found (no service principal, workload or managed identity in the environment, no Azure CLI login).`,
      { cause: error },
    );
  }
  const name = (error as { name?: unknown }).name;
  const said = sanitizeServerText((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '', 300);
  const message = `${describeSource(source)} could not get a token for "${target.providerId}": ${said}`;
  // Unavailable: this machine has no such identity (no managed identity, no token file), a setting to change.
  if (name === 'CredentialUnavailableError') return new ConfigError(message, { cause: error });
  return new ProviderError(message, { error: 'authentication_failed' }, { cause: error });
}

/** @azure/identity's HTTP client interface, over loginkit's bounded fetch (token requests have string bodies). */
function httpClientOver(http: FetchLike): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const body = request.body;
      if (body !== undefined && body !== null && typeof body !== 'string') {
        throw new LoginkitError('provider_error', 'loginkit sends only text bodies for @azure/identity.');
      }
      const response = await http(request.url, {
        method: request.method,
        headers: request.headers.toJSON(),
        ...(typeof body === 'string' ? { body } : {}),
        ...(request.abortSignal instanceof AbortSignal ? { signal: request.abortSignal } : {}),
      });
      return { request, status: response.status, headers: headersOf(response.headers), bodyAsText: await response.text() };
    },
  };
}

function headersOf(source: Headers): PipelineResponse['headers'] {
  const map = new Map<string, string>();
  source.forEach((value, name) => map.set(name.toLowerCase(), value));
  return {
    get: (name) => map.get(name.toLowerCase()),
    has: (name) => map.has(name.toLowerCase()),
    set: (name, value) => void map.set(name.toLowerCase(), String(value)),
    delete: (name) => void map.delete(name.toLowerCase()),
    toJSON: () => Object.fromEntries(map),
    [Symbol.iterator]: () => map.entries(),
  };
}
