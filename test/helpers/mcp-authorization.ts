// oidc-provider configured as the authorization server of MCP servers: resource indicators (a token names one
// MCP server), dynamic registration, a confidential client for the introspecting MCP server, and a consent
// stand-in that grants what was asked for, in a fresh grant per authorization.
/** The scope every request to the test MCP servers needs. */
export const READ = 'notes:read';
/** The scope their `write-note` tool needs on top. */
export const WRITE = 'notes:write';
/** The confidential client an introspecting MCP server authenticates as. */
export const INTROSPECTOR = { clientId: 'mcp-b-introspector', clientSecret: 'introspector-secret-for-tests' };

/** The resources the authorization server knows, and the access-token format it issues for each. */
export type ResourceFormats = Map<string, 'jwt' | 'opaque'>;

// A variable specifier keeps TypeScript from demanding declarations oidc-provider does not ship.
const OIDC_PROVIDER_SPECIFIER = 'oidc-provider';

interface GrantLoadingContext {
  oidc: {
    client: { clientId: string };
    account: { accountId: string };
    resourceServers: Record<string, unknown>;
    requestParamScopes: Set<string>;
    provider: { Grant: new (init: { accountId: string; clientId: string }) => GrantWithResources };
  };
}

interface GrantWithResources {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

/** The `configure` hook for startAuthServer that makes oidc-provider an MCP servers' authorization server. */
export async function mcpAuthorizationConfig(formats: ResourceFormats): Promise<(configuration: Record<string, unknown>) => void> {
  const { errors } = (await import(OIDC_PROVIDER_SPECIFIER)) as { errors: { InvalidTarget: new (detail?: string) => Error } };
  return (configuration) => {
    const features = configuration['features'] as Record<string, unknown>;
    features['registration'] = { enabled: true };
    features['resourceIndicators'] = {
      enabled: true,
      // Only what the client asked for: a token for one MCP server must not open another.
      defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx: unknown, resource: string) => {
        const format = formats.get(resource);
        if (format === undefined) throw new errors.InvalidTarget(`unknown resource ${resource}`);
        return {
          scope: `${READ} ${WRITE}`,
          audience: resource,
          accessTokenFormat: format,
          ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    };
    // The introspecting MCP server authenticates as a confidential client of its own.
    (configuration['clients'] as unknown[]).push({
      client_id: INTROSPECTOR.clientId,
      client_secret: INTROSPECTOR.clientSecret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    });
    // Stands in for the consent page: every requested scope of every requested resource is granted.
    configuration['loadExistingGrant'] = grantRequestedResourceScopes;
  };
}

// A fresh grant per authorization, so a step-up is visibly a new grant with the union of scopes.
async function grantRequestedResourceScopes(ctx: GrantLoadingContext): Promise<GrantWithResources> {
  const { oidc } = ctx;
  const grant = new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
  const scopes = [...oidc.requestParamScopes];
  grant.addOIDCScope(scopes.filter((scope) => scope === 'offline_access' || scope === 'openid').join(' '));
  for (const resource of Object.keys(oidc.resourceServers)) grant.addResourceScope(resource, scopes.join(' '));
  await grant.save();
  return grant;
}

/** Whether the authorization server still honours `token` (RFC 7662 introspection as the introspector client). */
export async function isActive(issuer: string, token: string): Promise<boolean> {
  const basic = Buffer.from(`${INTROSPECTOR.clientId}:${INTROSPECTOR.clientSecret}`).toString('base64');
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const body = (await response.json()) as { active?: boolean };
  return body.active === true;
}
