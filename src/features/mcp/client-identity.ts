import * as z from 'zod/mini';
import { ConfigError, LoginkitError, ProviderError, sanitizeServerText } from '../../errors.js';
import type { ClientAuthSpec, ServerMetadata } from '../../oauth/server.js';
import { type McpBinding, clientAuthOf } from '../../session/mcp-binding.js';
import { readMcpConfig } from './config.js';
import { CLIENT_NAME } from './discovery.js';
import { describeError, safeJson } from './response-text.js';
import { type ConfiguredClient, ConfiguredClientSchema, type Registration, RegistrationSchema, mcpStore, storeKey } from './store.js';
import type { McpTarget } from './target.js';

/** A client id and how it authenticates at the token endpoint. */
export interface ClientChoice {
  clientId: string;
  auth: ClientAuthSpec;
}

/** The redirect URI registered and used: loopback, any port (RFC 8252 §7.3). */
export const LOOPBACK_REDIRECT = 'http://127.0.0.1/callback';

const RegistrationResponseSchema = z.looseObject({
  client_id: z.string().check(z.minLength(1)),
  client_secret: z.optional(z.string()),
  token_endpoint_auth_method: z.optional(z.string()),
});

/** The client to use with this authorization server: configured, a metadata document URL, or registered. */
export async function clientFor(target: McpTarget, metadata: ServerMetadata): Promise<ClientChoice> {
  const configured = await configuredClient(target, metadata);
  if (configured) return { clientId: configured.clientId, auth: chooseAuth(metadata, configured) };
  const documentUrl = target.ctx.env.LOGINKIT_MCP_CLIENT_METADATA_URL || (await readMcpConfig(target.ctx.home)).clientMetadataUrl;
  if (documentUrl && metadata.client_id_metadata_document_supported === true) {
    return { clientId: documentUrl, auth: { method: 'none' } };
  }
  const store = mcpStore(target.ctx);
  const stored = RegistrationSchema.safeParse((await store.read())[storeKey('registration', metadata.issuer)]);
  // A registration is used only with the authorization server that issued it (keyed by issuer).
  if (stored.success && stored.data.issuer === metadata.issuer) return fromRegistration(stored.data);
  if (typeof metadata.registration_endpoint !== 'string') {
    throw new ConfigError(
      `The authorization server ${metadata.issuer} of ${target.url.href} does not register clients dynamically, and no client is configured for it.\nAsk its operator for a client id, then run: loginkit mcp login ${target.url.href} --client-id ID [--with-client-secret]`,
    );
  }
  const registration = await register(target, metadata, metadata.registration_endpoint);
  await store.update((entries) => ({ ...entries, [storeKey('registration', metadata.issuer)]: registration }));
  return fromRegistration(registration);
}

/** The pre-registered client: from the options, else stored for this server or issuer, else config.json. */
async function configuredClient(target: McpTarget, metadata: ServerMetadata): Promise<ConfiguredClient | undefined> {
  const { options } = target;
  if (options.clientId) {
    const method = options.tokenEndpointAuthMethod;
    return {
      clientId: options.clientId,
      ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
      ...(method ? { authMethod: method } : {}),
    };
  }
  const entries = await mcpStore(target.ctx).read();
  for (const key of [storeKey('client', target.url.href), storeKey('client', metadata.issuer)]) {
    const parsed = ConfiguredClientSchema.safeParse(entries[key]);
    if (parsed.success) return parsed.data;
  }
  const fromConfig =
    (await readMcpConfig(target.ctx.home)).clients?.[target.url.href] ?? (await readMcpConfig(target.ctx.home)).clients?.[metadata.issuer];
  return fromConfig;
}

/** Remembers a pre-registered client (secret included, in the credential store) for this server. */
export async function saveConfiguredClient(target: McpTarget): Promise<void> {
  const { clientId, clientSecret, tokenEndpointAuthMethod, clientCredentials } = target.options;
  if (!clientId || clientCredentials) return;
  const client: ConfiguredClient = {
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    ...(tokenEndpointAuthMethod ? { authMethod: tokenEndpointAuthMethod } : {}),
  };
  await mcpStore(target.ctx).update((entries) => ({ ...entries, [storeKey('client', target.url.href)]: client }));
}

/** Dynamic client registration (RFC 7591) as a native app with a loopback redirect URI. */
async function register(target: McpTarget, metadata: ServerMetadata, endpoint: string): Promise<Registration> {
  const authMethod = registrationAuthMethod(metadata);
  const fetch = await target.guarded();
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      client_name: CLIENT_NAME,
      application_type: 'native',
      redirect_uris: [LOOPBACK_REDIRECT, 'http://[::1]/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
    }),
  });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200) {
    throw new ProviderError(`Registering loginkit with ${metadata.issuer} failed (HTTP ${response.status}${describeError(text)}).`, {
      error: 'registration_failed',
      status: response.status,
    });
  }
  const parsed = RegistrationResponseSchema.safeParse(safeJson(text));
  if (!parsed.success)
    throw new ProviderError(`${metadata.issuer} answered the client registration with something that is not a client (RFC 7591).`, {
      error: 'invalid_registration',
    });
  // A registration that says it comes from another authorization server must never be used here or there.
  const claimed = parsed.data.issuer ?? parsed.data.iss;
  if (claimed !== undefined && claimed !== metadata.issuer) {
    throw new ProviderError(
      `The client registration answered for ${metadata.issuer} names another issuer (${sanitizeServerText(String(claimed), 200)}); refusing it.`,
      { error: 'invalid_registration' },
    );
  }
  const method = parsed.data.token_endpoint_auth_method;
  const finalMethod = method === 'client_secret_basic' || method === 'client_secret_post' || method === 'none' ? method : authMethod;
  return {
    issuer: metadata.issuer,
    clientId: parsed.data.client_id,
    ...(parsed.data.client_secret && finalMethod !== 'none' ? { clientSecret: parsed.data.client_secret } : {}),
    authMethod: finalMethod,
  };
}

/** The authentication to register with: none (a public native client) unless the server allows only secrets. */
function registrationAuthMethod(metadata: ServerMetadata): Registration['authMethod'] {
  const offered = metadata.token_endpoint_auth_methods_supported;
  if (!Array.isArray(offered) || offered.includes('none')) return 'none';
  if (offered.includes('client_secret_basic')) return 'client_secret_basic';
  if (offered.includes('client_secret_post')) return 'client_secret_post';
  return 'none';
}

/** The client of a machine-to-machine grant: the configured id with a private key, a secret, or nothing. */
export function machineClient(target: McpTarget, metadata: ServerMetadata): ClientChoice {
  const { clientId, clientSecret, privateKeyPem, alg } = target.options;
  if (!clientId)
    throw new LoginkitError(
      'usage',
      `Machine-to-machine sign-in needs a client id: loginkit mcp login ${target.url.href} --client-credentials --client-id ID --with-client-secret`,
    );
  if (privateKeyPem) return { clientId, auth: { method: 'private_key_jwt', privateKeyPem, alg: alg ?? 'ES256' } };
  if (clientSecret) {
    const offered = metadata.token_endpoint_auth_methods_supported;
    const post = Array.isArray(offered) && !offered.includes('client_secret_basic') && offered.includes('client_secret_post');
    return { clientId, auth: { method: post ? 'client_secret_post' : 'client_secret_basic', secret: clientSecret } };
  }
  return { clientId, auth: { method: 'none' } };
}

function fromRegistration(registration: Registration): ClientChoice {
  return {
    clientId: registration.clientId,
    auth: clientAuthOf({ authMethod: registration.authMethod, clientSecret: registration.clientSecret }),
  };
}

/** A configured client's authentication: its own choice, else what the server allows (basic before post). */
function chooseAuth(metadata: ServerMetadata, client: ConfiguredClient): ClientAuthSpec {
  if (!client.clientSecret) return { method: 'none' };
  const offered = Array.isArray(metadata.token_endpoint_auth_methods_supported)
    ? metadata.token_endpoint_auth_methods_supported
    : ['client_secret_basic'];
  const method =
    client.authMethod && client.authMethod !== 'none'
      ? client.authMethod
      : offered.includes('client_secret_basic')
        ? 'client_secret_basic'
        : offered.includes('client_secret_post')
          ? 'client_secret_post'
          : 'client_secret_basic';
  return { method, secret: client.clientSecret };
}

/** The parts of a binding that say how the client authenticates (secrets and keys stay in the store). */
export function bindingAuth(auth: ClientAuthSpec): Pick<McpBinding, 'authMethod' | 'clientSecret' | 'privateKeyPem' | 'alg'> {
  switch (auth.method) {
    case 'client_secret_basic':
    case 'client_secret_post':
      return { authMethod: auth.method, clientSecret: auth.secret };
    case 'private_key_jwt':
      return { authMethod: 'private_key_jwt', privateKeyPem: auth.privateKeyPem, alg: auth.alg };
    default:
      return { authMethod: 'none' };
  }
}
