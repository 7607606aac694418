import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../context.js';
import { ConfigError, LoginRequiredError, LoginkitError, ProviderError, sanitizeServerText } from '../errors.js';
import { type AddressPolicy, createGuardedFetch, policyFor } from '../net/guarded-fetch.js';
import { type FetchLike, createHttp } from '../net/http.js';
import {
  type ResourceMetadata,
  checkServerMetadata,
  discoverAuthorizationServer,
  discoverResourceMetadata,
  fallbackMetadata,
} from '../oauth/mcp-discovery.js';
import type { ClientAuthSpec, ServerMetadata } from '../oauth/server.js';
import type { TokenResult } from '../oauth/tokens.js';
import { type BearerChallenge, bearerChallenge } from '../oauth/www-authenticate.js';
import type { OAuthCredential } from '../session/credential.js';
import { type McpBinding, clientAuthOf } from '../session/mcp-binding.js';
import { namespacedStore } from '../session/namespaced-store.js';
import { DEFAULT_RETRY_POLICY } from '../session/retry.js';
import { TokenSession } from '../session/token-session.js';
import type { LoginEvent } from '../sign-in/events.js';
import type { LoginMethod } from '../sign-in/login-environment.js';

/** Options of an MCP sign-in and of the fetch and provider that sign in on demand. */
export interface McpLoginOptions {
  /** Scopes to ask for; default: the server's challenge, else its `scopes_supported`, else none. */
  scopes?: readonly string[];
  method?: LoginMethod | 'auto';
  noBrowser?: boolean;
  pasted?: AsyncIterable<string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  onEvent?: (event: LoginEvent) => void;
  /** A pre-registered client for this server (its secret is kept in the credential store). */
  clientId?: string;
  clientSecret?: string;
  /** Token endpoint authentication of the pre-registered client; default: what the server allows, basic first. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Machine to machine: the `client_credentials` grant with `clientSecret` or `privateKeyPem`. */
  clientCredentials?: boolean;
  /** PEM (PKCS #8) private key for `private_key_jwt`. */
  privateKeyPem?: string;
  alg?: 'ES256' | 'RS256';
  /** Workload identity: a JWT from the platform, presented with the JWT-bearer grant (RFC 7523). */
  workloadAssertion?: () => Promise<string> | string;
  /**
   * Cross-app access (enterprise-managed authorization): the person's ID token at their IdP is exchanged
   * for an ID-JAG (RFC 8693), which the MCP server's authorization server takes with the JWT-bearer grant.
   */
  crossApp?: { idpTokenEndpoint: string; idpIdToken: string; idpClientId: string; idpClientSecret?: string };
  /** Ask for DPoP-bound tokens when the authorization server offers DPoP. Default true. */
  dpop?: boolean;
  /** May a sign-in start when the server rejects the token (the person is there)? Default true. */
  interactive?: boolean;
}

/** The state of one MCP server's sign-in, without secrets. */
export interface McpStatus {
  serverUrl: string;
  resource: string | null;
  issuer: string;
  clientId: string;
  grant: McpBinding['grant'];
  tokenType: string;
  scopes: readonly string[];
  expiresAt: string | null;
  refreshable: boolean;
  dpop: boolean;
}

/** What an MCP logout did. */
export interface McpLogoutResult {
  serverUrl: string;
  revocation: 'revoked' | 'unsupported' | 'failed' | 'not_signed_in';
  revocationError?: string;
}

const STORE_NAMESPACE = 'mcp';
const MAX_AUTHORIZATIONS_PER_REQUEST = 3;
const LOOPBACK_REDIRECT = 'http://127.0.0.1/callback';
const CLIENT_NAME = 'loginkit';

const RegistrationSchema = z.object({
  issuer: z.string(),
  clientId: z.string(),
  clientSecret: z.optional(z.string()),
  authMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post']),
});
type Registration = z.infer<typeof RegistrationSchema>;

const ConfiguredClientSchema = z.object({
  clientId: z.string(),
  clientSecret: z.optional(z.string()),
  authMethod: z.optional(z.enum(['none', 'client_secret_basic', 'client_secret_post'])),
});
type ConfiguredClient = z.infer<typeof ConfiguredClientSchema>;

const RegistrationResponseSchema = z.looseObject({
  client_id: z.string().check(z.minLength(1)),
  client_secret: z.optional(z.string()),
  token_endpoint_auth_method: z.optional(z.string()),
});

/** The MCP credentials of a context: their own part of the credential store, with the full token lifecycle. */
const sessions = new WeakMap<LoginkitContext, TokenSession>();
function mcpSession(ctx: LoginkitContext): TokenSession {
  let session = sessions.get(ctx);
  if (!session) {
    session = new TokenSession({
      store: namespacedStore(ctx.store, STORE_NAMESPACE),
      http: ctx.http,
      timeoutMs: ctx.timeoutMs,
      now: ctx.now,
      retry: DEFAULT_RETRY_POLICY,
      onWarning: ctx.warn,
    });
    sessions.set(ctx, session);
  }
  return session;
}

/** The canonical form of an MCP server URL (no fragment); refuses anything but https or loopback http. */
export function canonicalServerUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new LoginkitError('usage', `"${String(url)}" is not a URL. Give the MCP server's URL, e.g. https://mcp.example.com/mcp`);
  }
  parsed.hash = '';
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new LoginkitError('usage', `The MCP server URL must use https (http only on localhost): ${parsed.href}`);
  }
  return parsed;
}

const storeKey = (kind: 'server' | 'client' | 'registration', id: string): string => `${kind}:${encodeURIComponent(id)}`;

/** The credential id of tokens for (authorization server, client, resource). */
function credentialId(issuer: string, clientId: string, resource: string): string {
  return `mcp-${createHash('sha256').update(`${issuer}\n${clientId}\n${resource}`).digest('hex').slice(0, 20)}`;
}

/** One MCP server as loginkit sees it: discovery, client identity, sign-in and tokens. */
export class McpServer {
  readonly url: URL;
  readonly #ctx: LoginkitContext;
  readonly #options: McpLoginOptions;
  readonly #session: TokenSession;
  #policy: Promise<AddressPolicy> | undefined;
  #dpopNonces = new Map<string, string>();

  constructor(ctx: LoginkitContext, url: string | URL, options: McpLoginOptions = {}) {
    this.url = canonicalServerUrl(url);
    this.#ctx = ctx;
    this.#options = options;
    this.#session = mcpSession(ctx);
  }

  /** Fetch for URLs the servers hand out: SSRF-checked, size- and time-bounded. */
  async #guarded(): Promise<FetchLike> {
    this.#policy ??= policyFor(this.url);
    return createGuardedFetch(this.#ctx.http, await this.#policy);
  }

  /** The stored credential for this server, if any (not refreshed). */
  async credential(): Promise<OAuthCredential | undefined> {
    const entries = await namespacedStore(this.#ctx.store, STORE_NAMESPACE).read();
    const id = entries[storeKey('server', this.url.href)];
    if (typeof id !== 'string') return undefined;
    const credential = await this.#session.credential(id);
    return credential?.kind === 'oauth' ? credential : undefined;
  }

  /** Refreshes `seen` now (the server rejected it), once for everyone who asks at the same time. */
  async refreshNow(seen: OAuthCredential): Promise<void> {
    await this.#session.refresh(seen, true);
  }

  /** A valid credential: refreshed first when due; undefined when there is none. */
  async #freshCredential(): Promise<OAuthCredential | undefined> {
    const current = await this.credential();
    if (!current) return undefined;
    const fresh = await this.#session.freshCredential(current.provider, current.profile);
    return fresh.kind === 'oauth' ? fresh : undefined;
  }

  /** Probes the server without a token: the 401's challenge, or undefined when it answered otherwise. */
  async #probe(): Promise<BearerChallenge | undefined> {
    const http = this.#resourceHttp();
    const response = await http(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: CLIENT_NAME, version: '0' } },
      }),
    });
    await response.body?.cancel().catch(() => undefined);
    return response.status === 401 || response.status === 403 ? bearerChallenge(response) : undefined;
  }

  #resourceHttp(): FetchLike {
    return createHttp({ fetch: this.#ctx.baseFetch, env: this.#ctx.env, timeoutMs: this.#ctx.timeoutMs, bound: 'headers' });
  }

  /** Discovers the protected resource and its authorization server (a 2025-03-26 server: the origin's). */
  async discover(challenge?: BearerChallenge): Promise<{ resource: ResourceMetadata | undefined; metadata: ServerMetadata }> {
    const fetch = await this.#guarded();
    const requirePkce = !this.#options.clientCredentials && !this.#options.workloadAssertion && !this.#options.crossApp;
    const resource = await discoverResourceMetadata(this.url, challenge?.resourceMetadata, fetch);
    if (resource) {
      const issuer = resource.authorizationServers[0];
      if (!issuer)
        throw new ConfigError(`The MCP server ${this.url.href} names no authorization server in its metadata (${resource.url}).`);
      const metadata = await discoverAuthorizationServer(issuer, fetch, { requirePkce });
      if (!metadata) {
        throw new ConfigError(
          `The authorization server ${issuer} of ${this.url.href} publishes no metadata (RFC 8414 or OpenID Connect discovery).`,
        );
      }
      return { resource, metadata };
    }
    // 2025-03-26: no resource metadata; the MCP server's origin is the authorization server.
    const origin = this.url.origin;
    const metadata = (await discoverAuthorizationServer(origin, fetch, { requirePkce, legacyOrigin: true })) ?? fallbackMetadata(origin);
    checkServerMetadata(metadata, { requirePkce });
    return { resource: undefined, metadata };
  }

  /**
   * Signs in to the server: discovers, picks or registers the client, runs the sign-in the options ask for
   * (browser, paste, device code, client credentials, workload identity, cross-app access) and stores the tokens.
   */
  async login(challenge?: BearerChallenge, extraScopes: readonly string[] = []): Promise<OAuthCredential> {
    const found = challenge ?? (await this.#probe());
    const { resource, metadata } = await this.discover(found);
    const held = (await this.credential())?.scopes ?? [];
    const scopes = this.#scopes(found, resource, metadata, extraScopes.length > 0 ? union(held, extraScopes) : undefined);
    const dpop = await this.#dpopKey(metadata);
    const binding = (client: { clientId: string; auth: ClientAuthSpec }, grant: McpBinding['grant']): McpBinding => ({
      serverUrl: this.url.href,
      ...(resource ? { resource: resource.resource } : {}),
      grant,
      ...bindingAuth(client.auth),
      ...(dpop ? { dpop } : {}),
    });
    let client: { clientId: string; auth: ClientAuthSpec };
    let tokens: TokenResult;
    let grant: McpBinding['grant'];
    if (this.#options.clientCredentials || this.#options.workloadAssertion || this.#options.crossApp) {
      client = this.#machineClient(metadata);
      grant = this.#options.clientCredentials ? 'client_credentials' : 'jwt_bearer';
      tokens = await this.#machineTokens(metadata, client, binding(client, grant), scopes);
    } else {
      client = await this.#clientFor(metadata);
      grant = 'authorization_code';
      tokens = await this.#interactiveTokens(metadata, client, binding(client, grant), scopes);
    }
    const id = credentialId(metadata.issuer, client.clientId, resource?.resource ?? this.url.href);
    const { toCredential } = await import('../session/credential.js');
    const credential = toCredential(
      { provider: id, profile: 'default', clientId: client.clientId, server: metadata, mcp: binding(client, grant) },
      tokens,
    );
    await this.#session.save(credential);
    await namespacedStore(this.#ctx.store, STORE_NAMESPACE).update((entries) => ({ ...entries, [storeKey('server', this.url.href)]: id }));
    return credential;
  }

  /** Scopes: the challenge's, else the resource's `scopes_supported`, else none; `offline_access` only when the server lists it. */
  #scopes(
    challenge: BearerChallenge | undefined,
    resource: ResourceMetadata | undefined,
    metadata: ServerMetadata,
    stepUp: readonly string[] | undefined,
  ): string[] {
    let scopes: string[];
    if (this.#options.scopes && this.#options.scopes.length > 0) scopes = [...this.#options.scopes];
    else if (challenge && challenge.scopes.length > 0) scopes = [...challenge.scopes];
    else scopes = [...(resource?.scopesSupported ?? [])];
    if (stepUp) scopes = [...stepUp];
    const offered = Array.isArray(metadata.scopes_supported) ? metadata.scopes_supported : [];
    const wantsRefresh = !this.#options.clientCredentials && !this.#options.workloadAssertion && !this.#options.crossApp;
    if (wantsRefresh && offered.includes('offline_access') && !scopes.includes('offline_access')) scopes.push('offline_access');
    if (!offered.includes('offline_access')) scopes = scopes.filter((s) => s !== 'offline_access');
    return scopes;
  }

  /** A new DPoP key when the server offers DPoP (and it is wanted). */
  async #dpopKey(metadata: ServerMetadata): Promise<McpBinding['dpop'] | undefined> {
    const algs = metadata.dpop_signing_alg_values_supported;
    if (this.#options.dpop === false || !Array.isArray(algs)) return undefined;
    const alg = algs.includes('ES256') ? 'ES256' : algs.find((a) => a === 'RS256' || a === 'PS256' || a === 'EdDSA');
    if (!alg) return undefined;
    const { exportJWK, generateKeyPair } = await import('jose');
    const pair = await generateKeyPair(alg, { extractable: true });
    const [privateJwk, publicJwk] = await Promise.all([exportJWK(pair.privateKey), exportJWK(pair.publicKey)]);
    return { privateJwk: { ...privateJwk, kty: privateJwk.kty ?? '' }, publicJwk: { ...publicJwk, kty: publicJwk.kty ?? '' }, alg };
  }

  /** The client to use with this authorization server: configured, a metadata document URL, or registered. */
  async #clientFor(metadata: ServerMetadata): Promise<{ clientId: string; auth: ClientAuthSpec }> {
    const configured = await this.#configuredClient(metadata);
    if (configured) return { clientId: configured.clientId, auth: chooseAuth(metadata, configured) };
    const documentUrl = this.#ctx.env.LOGINKIT_MCP_CLIENT_METADATA_URL || (await readMcpConfig(this.#ctx.home)).clientMetadataUrl;
    if (documentUrl && metadata.client_id_metadata_document_supported === true) {
      return { clientId: documentUrl, auth: { method: 'none' } };
    }
    const store = namespacedStore(this.#ctx.store, STORE_NAMESPACE);
    const stored = RegistrationSchema.safeParse((await store.read())[storeKey('registration', metadata.issuer)]);
    // A registration is used only with the authorization server that issued it (keyed by issuer).
    if (stored.success && stored.data.issuer === metadata.issuer) return fromRegistration(stored.data);
    if (typeof metadata.registration_endpoint !== 'string') {
      throw new ConfigError(
        `The authorization server ${metadata.issuer} of ${this.url.href} does not register clients dynamically, and no client is configured for it.\nAsk its operator for a client id, then run: loginkit mcp login ${this.url.href} --client-id ID [--with-client-secret]`,
      );
    }
    const registration = await this.#register(metadata, metadata.registration_endpoint);
    await store.update((entries) => ({ ...entries, [storeKey('registration', metadata.issuer)]: registration }));
    return fromRegistration(registration);
  }

  async #configuredClient(metadata: ServerMetadata): Promise<ConfiguredClient | undefined> {
    if (this.#options.clientId) {
      const method = this.#options.tokenEndpointAuthMethod;
      return {
        clientId: this.#options.clientId,
        ...(this.#options.clientSecret ? { clientSecret: this.#options.clientSecret } : {}),
        ...(method ? { authMethod: method } : {}),
      };
    }
    const entries = await namespacedStore(this.#ctx.store, STORE_NAMESPACE).read();
    for (const key of [storeKey('client', this.url.href), storeKey('client', metadata.issuer)]) {
      const parsed = ConfiguredClientSchema.safeParse(entries[key]);
      if (parsed.success) return parsed.data;
    }
    const fromConfig =
      (await readMcpConfig(this.#ctx.home)).clients?.[this.url.href] ?? (await readMcpConfig(this.#ctx.home)).clients?.[metadata.issuer];
    return fromConfig;
  }

  /** Remembers a pre-registered client (secret included, in the credential store) for this server. */
  async saveConfiguredClient(): Promise<void> {
    const { clientId, clientSecret, tokenEndpointAuthMethod } = this.#options;
    if (!clientId || this.#options.clientCredentials) return;
    const client: ConfiguredClient = {
      clientId,
      ...(clientSecret ? { clientSecret } : {}),
      ...(tokenEndpointAuthMethod ? { authMethod: tokenEndpointAuthMethod } : {}),
    };
    await namespacedStore(this.#ctx.store, STORE_NAMESPACE).update((entries) => ({
      ...entries,
      [storeKey('client', this.url.href)]: client,
    }));
  }

  /** Dynamic client registration (RFC 7591) as a native app with a loopback redirect URI. */
  async #register(metadata: ServerMetadata, endpoint: string): Promise<Registration> {
    const offered = metadata.token_endpoint_auth_methods_supported;
    const authMethod: Registration['authMethod'] =
      !Array.isArray(offered) || offered.includes('none')
        ? 'none'
        : offered.includes('client_secret_basic')
          ? 'client_secret_basic'
          : offered.includes('client_secret_post')
            ? 'client_secret_post'
            : 'none';
    const fetch = await this.#guarded();
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
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const parsed = RegistrationResponseSchema.safeParse(body);
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

  async #interactiveTokens(
    metadata: ServerMetadata,
    client: { clientId: string; auth: ClientAuthSpec },
    binding: McpBinding,
    scopes: string[],
  ): Promise<TokenResult> {
    const [{ signIn }, { detectEnvironment }, { mcpConnection }] = await Promise.all([
      import('../sign-in/sign-in.js'),
      import('../sign-in/login-environment.js'),
      import('../session/mcp-binding.js'),
    ]);
    const ctx = this.#ctx;
    const options = this.#options;
    const environment = ctx.environment ?? detectEnvironment({ env: ctx.env });
    // A store that cannot be written must fail now, not after the person has signed in.
    await this.#session.credentials();
    return signIn({
      providerId: this.url.href,
      connection: { metadata, clientId: client.clientId, http: await this.#guarded(), timeoutMs: ctx.timeoutMs, ...mcpConnection(binding) },
      scopes,
      redirectUri: LOOPBACK_REDIRECT,
      authorizeParams: binding.resource ? { resource: binding.resource } : {},
      apiKeySupported: false,
      method: options.method ?? 'auto',
      environment,
      openBrowser: ctx.openBrowser ?? (async (url: string) => (await import('../sign-in/browser.js')).openSystemBrowser(url, ctx.env)),
      browserInjected: ctx.openBrowser !== undefined,
      noBrowser: options.noBrowser === true,
      pasted: options.pasted,
      onEvent: (event) => {
        ctx.emit(event);
        options.onEvent?.(event);
      },
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      now: ctx.now,
    });
  }

  #machineClient(metadata: ServerMetadata): { clientId: string; auth: ClientAuthSpec } {
    const { clientId, clientSecret, privateKeyPem, alg } = this.#options;
    if (!clientId)
      throw new LoginkitError(
        'usage',
        `Machine-to-machine sign-in needs a client id: loginkit mcp login ${this.url.href} --client-credentials --client-id ID --with-client-secret`,
      );
    if (privateKeyPem) return { clientId, auth: { method: 'private_key_jwt', privateKeyPem, alg: alg ?? 'ES256' } };
    if (clientSecret) {
      const offered = metadata.token_endpoint_auth_methods_supported;
      const post = Array.isArray(offered) && !offered.includes('client_secret_basic') && offered.includes('client_secret_post');
      return { clientId, auth: { method: post ? 'client_secret_post' : 'client_secret_basic', secret: clientSecret } };
    }
    return { clientId, auth: { method: 'none' } };
  }

  /** client_credentials, or the JWT-bearer grant with a workload assertion or an ID-JAG. */
  async #machineTokens(
    metadata: ServerMetadata,
    client: { clientId: string; auth: ClientAuthSpec },
    binding: McpBinding,
    scopes: string[],
  ): Promise<TokenResult> {
    const [oidc, { toConfiguration, dpopOption }, { toTokenResult }, { translateOAuthError }, { mcpConnection }] = await Promise.all([
      import('openid-client'),
      import('../oauth/server.js'),
      import('../oauth/tokens.js'),
      import('../oauth/translate-error.js'),
      import('../session/mcp-binding.js'),
    ]);
    const connection = {
      metadata,
      clientId: client.clientId,
      http: await this.#guarded(),
      timeoutMs: this.#ctx.timeoutMs,
      ...mcpConnection(binding),
    };
    const config = toConfiguration(connection);
    const params: Record<string, string> = { ...connection.tokenParameters, ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}) };
    const dpop = await dpopOption(config, connection);
    try {
      if (this.#options.clientCredentials) {
        return toTokenResult(await oidc.clientCredentialsGrant(config, params, dpop), scopes, this.#ctx.now());
      }
      const assertion = this.#options.crossApp ? await this.#idJag(metadata, binding) : await this.#options.workloadAssertion?.();
      if (!assertion) throw new ConfigError('No assertion for the JWT-bearer grant.');
      const response = await oidc.genericGrantRequest(
        config,
        'urn:ietf:params:oauth:grant-type:jwt-bearer',
        { ...params, assertion },
        dpop,
      );
      return toTokenResult(response, scopes, this.#ctx.now());
    } catch (error) {
      throw translateOAuthError(error, {
        host: new URL(metadata.token_endpoint ?? metadata.issuer).host,
        what: `The token request to ${metadata.issuer}`,
      });
    }
  }

  /** Cross-app access: trades the IdP ID token for an ID-JAG for this authorization server (RFC 8693). */
  async #idJag(metadata: ServerMetadata, binding: McpBinding): Promise<string> {
    const crossApp = this.#options.crossApp;
    if (!crossApp) throw new ConfigError('No identity provider is configured for cross-app access.');
    const fetch = await this.#guarded();
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
      subject_token: crossApp.idpIdToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      audience: metadata.issuer,
      ...(binding.resource ? { resource: binding.resource } : {}),
      client_id: crossApp.idpClientId,
      ...(crossApp.idpClientSecret ? { client_secret: crossApp.idpClientSecret } : {}),
    });
    const response = await fetch(crossApp.idpTokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
    });
    const text = await response.text();
    const parsed = z.looseObject({ access_token: z.string() }).safeParse(safeJson(text));
    if (!response.ok || !parsed.success) {
      throw new ProviderError(
        `The identity provider refused the token exchange for ${metadata.issuer} (HTTP ${response.status}${describeError(text)}).`,
        {
          error: 'token_exchange_failed',
          status: response.status,
        },
      );
    }
    return parsed.data.access_token;
  }

  /**
   * A fetch for this MCP server: adds the token (Bearer, or DPoP with a proof), refreshes once on 401
   * `invalid_token`, then signs in again when interactive (else LoginRequiredError); on 403
   * `insufficient_scope` steps up with the union of held and challenged scopes. At most three sign-ins per request.
   */
  createFetch(): FetchLike {
    const http = this.#resourceHttp();
    return async (input, init = {}) => {
      let credential = await this.#freshCredential();
      let authorizations = 0;
      let refreshed = false;
      let nonceRetried = false;
      const authorize = async (challenge: BearerChallenge | undefined, stepUp: readonly string[]): Promise<void> => {
        if (authorizations >= MAX_AUTHORIZATIONS_PER_REQUEST) {
          throw new LoginkitError(
            'insufficient_scope',
            `${this.url.host} still refuses after ${MAX_AUTHORIZATIONS_PER_REQUEST} sign-ins for this request; giving up.`,
          );
        }
        authorizations++;
        credential = await this.#reauthorize(challenge, stepUp);
      };
      while (true) {
        const response = await http(input, await this.#withToken(input, init, credential));
        const challenge = response.status === 401 || response.status === 403 ? bearerChallenge(response) : undefined;
        const nonce = response.headers.get('dpop-nonce');
        if (nonce) this.#dpopNonces.set(new URL(String(input)).origin, nonce);
        if (response.status === 401 && challenge?.error === 'use_dpop_nonce' && nonce && !nonceRetried) {
          nonceRetried = true;
          await response.body?.cancel().catch(() => undefined);
          continue;
        }
        if (response.status === 401) {
          await response.body?.cancel().catch(() => undefined);
          if (!isReplayable(init.body))
            throw new LoginkitError('invalid_token', `${this.url.host} rejected the token for a request that cannot be sent again.`);
          if (credential && !refreshed && credential.refreshToken) {
            refreshed = true;
            try {
              const renewed = await this.#session.refresh(credential, true);
              if (renewed.kind === 'oauth' && renewed.accessToken !== credential.accessToken) {
                credential = renewed;
                continue;
              }
            } catch (error) {
              if (!(error instanceof LoginRequiredError)) throw error;
              // The refresh token is gone for good: forget the credential, then sign in again below.
              await this.#session.remove(credential.provider, credential.profile);
            }
          }
          await authorize(challenge, []);
          continue;
        }
        if (response.status === 403 && challenge?.error === 'insufficient_scope') {
          await response.body?.cancel().catch(() => undefined);
          if (!isReplayable(init.body))
            throw new LoginkitError('insufficient_scope', `${this.url.host} needs more scope (${challenge.scopes.join(' ')}).`);
          await authorize(challenge, union(credential?.scopes ?? [], challenge.scopes));
          continue;
        }
        return response;
      }
    };
  }

  /** A new sign-in after the server refused: interactive unless told otherwise; machine clients just ask again. */
  async #reauthorize(challenge: BearerChallenge | undefined, stepUp: readonly string[]): Promise<OAuthCredential> {
    const machine = this.#options.clientCredentials || this.#options.workloadAssertion || this.#options.crossApp;
    if (!machine && this.#options.interactive === false) {
      throw mcpLoginRequired(this.url, `The MCP server ${this.url.href} needs a sign-in (none is stored, it expired, or it lacks scope).`);
    }
    return this.login(challenge, stepUp);
  }

  async #withToken(input: string | URL, init: RequestInit, credential: OAuthCredential | undefined): Promise<RequestInit> {
    if (!credential) return init;
    const headers = new Headers(init.headers);
    if (credential.tokenType.toLowerCase() === 'dpop' && credential.mcp?.dpop) {
      const { createDpopProof } = await import('../oauth/dpop.js');
      const url = new URL(String(input));
      headers.set('authorization', `DPoP ${credential.accessToken}`);
      headers.set(
        'dpop',
        await createDpopProof(credential.mcp.dpop, {
          method: init.method ?? 'GET',
          url,
          accessToken: credential.accessToken,
          nonce: this.#dpopNonces.get(url.origin),
        }),
      );
    } else {
      headers.set('authorization', `Bearer ${credential.accessToken}`);
    }
    return { ...init, headers };
  }

  /** The access token for this server, refreshed first when due; LoginRequiredError when there is none. */
  async token(): Promise<string> {
    const credential = await this.#freshCredential();
    if (!credential) throw mcpLoginRequired(this.url, `Not signed in to the MCP server ${this.url.href}.`);
    return credential.accessToken;
  }

  /** The sign-in's state, or undefined when there is none. */
  async status(): Promise<McpStatus | undefined> {
    const credential = await this.credential();
    return credential ? describe(credential) : undefined;
  }

  /** Revokes the tokens (refresh token first) and removes them; the registration is kept for next time. */
  async logout(): Promise<McpLogoutResult> {
    const credential = await this.credential();
    if (!credential) return { serverUrl: this.url.href, revocation: 'not_signed_in' };
    const ending = await this.#session.end(credential);
    await namespacedStore(this.#ctx.store, STORE_NAMESPACE).update((entries) => {
      const { [storeKey('server', this.url.href)]: _gone, ...rest } = entries;
      return rest;
    });
    return {
      serverUrl: this.url.href,
      revocation: ending.revocation === 'local_only' ? 'unsupported' : ending.revocation,
      ...(ending.revocationError ? { revocationError: ending.revocationError } : {}),
    };
  }
}

/** Every MCP server with a stored sign-in. */
export async function mcpStatusAll(ctx: LoginkitContext): Promise<McpStatus[]> {
  const session = mcpSession(ctx);
  const all = await session.credentials();
  const index = await namespacedStore(ctx.store, STORE_NAMESPACE).read();
  const current = new Set(
    Object.entries(index)
      .filter(([key]) => key.startsWith('server:'))
      .map(([, id]) => id),
  );
  return all.flatMap((credential) => (credential.kind === 'oauth' && current.has(credential.provider) ? [describe(credential)] : []));
}

function describe(credential: OAuthCredential): McpStatus {
  const mcp = credential.mcp;
  return {
    serverUrl: mcp?.serverUrl ?? '',
    resource: mcp?.resource ?? null,
    issuer: credential.server.issuer,
    clientId: credential.clientId,
    grant: mcp?.grant ?? 'authorization_code',
    tokenType: credential.tokenType,
    scopes: credential.scopes,
    expiresAt: credential.expiresAt === null ? null : new Date(credential.expiresAt).toISOString(),
    refreshable: credential.refreshToken !== undefined,
    dpop: mcp?.dpop !== undefined,
  };
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

function isReplayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body)
  );
}

function fromRegistration(registration: Registration): { clientId: string; auth: ClientAuthSpec } {
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

function bindingAuth(auth: ClientAuthSpec): Pick<McpBinding, 'authMethod' | 'clientSecret' | 'privateKeyPem' | 'alg'> {
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeError(text: string): string {
  const body = safeJson(text) as { error?: unknown; error_description?: unknown } | undefined;
  const error = typeof body?.error === 'string' ? body.error : undefined;
  const description = typeof body?.error_description === 'string' ? body.error_description : undefined;
  return error ? `: ${sanitizeServerText(error, 60)}${description ? ` – ${sanitizeServerText(description, 200)}` : ''}` : '';
}

const McpConfigSchema = z.object({
  clientMetadataUrl: z.optional(z.string()),
  clients: z.optional(z.record(z.string(), ConfiguredClientSchema)),
});

/** The `mcp` section of config.json: `clientMetadataUrl` and pre-registered `clients` by server URL or issuer. */
async function readMcpConfig(home: string): Promise<z.infer<typeof McpConfigSchema>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(home, 'config.json'), 'utf8'));
  } catch {
    return {};
  }
  const section = (raw as { mcp?: unknown } | null)?.mcp;
  if (section === undefined) return {};
  const parsed = McpConfigSchema.safeParse(section);
  if (!parsed.success)
    throw new ConfigError(
      `The "mcp" section of ${join(home, 'config.json')} is not valid: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`,
    );
  return parsed.data;
}

/** A login-required error (exit 3) whose fix is `loginkit mcp login <url>`. */
export function mcpLoginRequired(url: URL, reason: string): LoginRequiredError {
  const error = new LoginRequiredError(`mcp ${url.href}`, reason);
  error.message = `${reason}\nRun: loginkit mcp login ${url.href}`;
  return error;
}
