import { ConfigError } from '../../errors.js';
import { endpointProblem } from '../../providers/endpoints.js';
import type { AzureIdentity, AzureSettings, OAuthProvider, Provider } from '../../providers/registry.js';
import type { EnvVars } from '../../shared/home.js';

/** The Azure CLI's public client (a first-party Microsoft app every tenant knows): a person's sign-in uses it unless `clientId` is set. */
const AZURE_CLI_CLIENT_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';
/** Microsoft Entra ID in the public cloud; `AZURE_AUTHORITY_HOST` or `authorityHost` names another (US Government, China). */
const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** The Azure OpenAI (Cognitive Services) scope of each Microsoft cloud, by authority host. */
const COGNITIVE_SERVICES_SCOPES: Readonly<Record<string, string>> = {
  'login.microsoftonline.us': 'https://cognitiveservices.azure.us/.default',
  'login.chinacloudapi.cn': 'https://cognitiveservices.azure.cn/.default',
  'login.partner.microsoftonline.cn': 'https://cognitiveservices.azure.cn/.default',
};
const PUBLIC_CLOUD_SCOPE = 'https://cognitiveservices.azure.com/.default';

/** Authority hosts whose instance metadata MSAL knows; for any other (a private or test authority), its discovery is skipped. */
export const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A person's sign-in asks for these besides the resource's scope: a refresh token, and who signed in. */
const PERSON_SCOPES = ['offline_access', 'openid', 'profile'] as const;
/** The Azure CLI's registration allows `http://localhost` on any port. */
const PERSON_REDIRECT_URI = 'http://localhost';

/** An Entra ID provider's settings resolved against the `AZURE_*` variables and the defaults. */
export interface AzureTarget {
  readonly providerId: string;
  readonly displayName: string;
  readonly identity: AzureIdentity;
  /** Without a trailing slash, e.g. `https://login.microsoftonline.com`. */
  readonly authorityHost: string;
  /** `tenant`, else `AZURE_TENANT_ID`. */
  readonly tenant: string | undefined;
  /** The app (or user-assigned managed identity) of a non-interactive source: `clientId`, else `AZURE_CLIENT_ID`. */
  readonly clientId: string | undefined;
  /** The public client a person signs in to: `clientId`, else the Azure CLI's. */
  readonly personClientId: string;
  /** The scope `token` and `exec` ask for: the first of `scopes`, else Azure OpenAI's in this cloud. */
  readonly scope: string;
  /** `endpoint`, else `AZURE_OPENAI_ENDPOINT`, without a trailing slash. */
  readonly endpoint: string | undefined;
  readonly certificatePath: string | undefined;
  readonly redirectUri: string;
}

/** The target of an Entra ID provider; a bad `AZURE_AUTHORITY_HOST` or `AZURE_OPENAI_ENDPOINT` is a ConfigError naming it. */
export function resolveAzureTarget(provider: Provider, settings: AzureSettings, env: EnvVars): AzureTarget {
  const authorityHost = checkedUrl(settings.authorityHost ?? env['AZURE_AUTHORITY_HOST'] ?? DEFAULT_AUTHORITY_HOST, 'AZURE_AUTHORITY_HOST');
  const endpoint = settings.endpoint ?? env['AZURE_OPENAI_ENDPOINT'];
  return {
    providerId: provider.id,
    displayName: provider.displayName,
    identity: settings.identity,
    authorityHost,
    tenant: settings.tenant ?? nonEmpty(env['AZURE_TENANT_ID']),
    clientId: settings.clientId ?? nonEmpty(env['AZURE_CLIENT_ID']),
    personClientId: settings.clientId ?? AZURE_CLI_CLIENT_ID,
    scope: settings.scopes?.[0] ?? COGNITIVE_SERVICES_SCOPES[new URL(authorityHost).hostname] ?? PUBLIC_CLOUD_SCOPE,
    endpoint: endpoint ? checkedUrl(endpoint, 'AZURE_OPENAI_ENDPOINT') : undefined,
    certificatePath: settings.certificatePath ?? nonEmpty(env['AZURE_CLIENT_CERTIFICATE_PATH']),
    redirectUri: settings.redirectUri ?? PERSON_REDIRECT_URI,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function checkedUrl(value: string, variable: string): string {
  const problem = endpointProblem(value);
  if (problem) throw new ConfigError(`${variable} (or the provider's setting) ${problem}`);
  return value.replace(/\/+$/, '');
}

/** Authorities whose ID tokens name another host as issuer: Microsoft Entra ID operated by 21Vianet (China). */
const ISSUER_HOSTS: Readonly<Record<string, string>> = { 'login.chinacloudapi.cn': 'login.partner.microsoftonline.cn' };

/** The issuer of a person's ID tokens, `{authority}/{tenant id}/v2.0`, which the sign-in must match exactly. */
export function personIssuer(target: AzureTarget): string {
  const authority = new URL(target.authorityHost);
  const host = ISSUER_HOSTS[authority.hostname];
  return `${host ? `https://${host}` : target.authorityHost}/${target.tenant ?? ''}/v2.0`;
}

/**
 * The OAuth settings of a person's sign-in: Entra ID's v2.0 endpoints of the tenant, given by hand, since
 * the issuer in ID tokens is the tenant's own (`{authority}/{tenant id}/v2.0`) and must equal the one asked for.
 */
export function personSignIn(target: AzureTarget): OAuthProvider {
  const tenant = target.tenant;
  if (tenant === undefined || !TENANT_ID.test(tenant)) {
    throw new ConfigError(
      `Provider "${target.providerId}": a person's sign-in needs the directory (tenant) ID${tenant ? `, not "${tenant}"` : ''}.\nSet "tenant" in config.json (or AZURE_TENANT_ID) to it: az account show --query tenantId -o tsv, or Entra ID → Overview in the Azure portal.`,
    );
  }
  const base = `${target.authorityHost}/${tenant}`;
  return {
    id: target.providerId,
    displayName: target.displayName,
    issuer: personIssuer(target),
    clientId: target.personClientId,
    scopes: [target.scope, ...PERSON_SCOPES],
    redirectUri: target.redirectUri,
    fallbackRedirectPorts: [],
    // Entra ID has no RFC 7009 revocation endpoint: signing out removes the tokens here.
    endpoints: {
      authorization: `${base}/oauth2/v2.0/authorize`,
      token: `${base}/oauth2/v2.0/token`,
      deviceAuthorization: `${base}/oauth2/v2.0/devicecode`,
    },
    authorizeParams: {},
    jsonBodyEndpoints: false,
    // Entra ID's ID tokens name the person by UPN (`email` only where the directory has one) and the tenant by `tid`.
    accountClaims: { email: [['preferred_username'], ['upn']], workspace: [['tid']] },
  };
}
