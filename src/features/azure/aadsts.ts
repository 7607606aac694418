import { ConfigError, LoginRequiredError, ProviderError, causeChain } from '../../errors.js';

// Entra ID explains a refusal with an AADSTS code in the error description. The common ones have a known
// fix; each becomes one line that names it. The server's own text is never repeated (it may be long, and
// is attacker-controlled where the authority is not Microsoft's).

/** The AADSTS code in what Entra ID (or @azure/identity, quoting it) answered, if any. */
function aadstsCode(error: unknown): number | undefined {
  for (const link of causeChain(error)) {
    const texts = [link instanceof Error ? link.message : String(link), describedBy(link)];
    for (const text of texts) {
      const match = /\bAADSTS(\d{5,7})\b/.exec(text ?? '');
      if (match) return Number(match[1]);
    }
  }
  return undefined;
}

function describedBy(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { errorDescription, errorResponse } = value as { errorDescription?: unknown; errorResponse?: { errorDescription?: unknown } };
  if (typeof errorDescription === 'string') return errorDescription;
  return typeof errorResponse?.errorDescription === 'string' ? errorResponse.errorDescription : undefined;
}

const MFA = new Set([50072, 50074, 50076, 50079, 50158]);
const SIGN_IN_ENDED = new Set([50078, 50132, 50133, 50173, 70008, 70043, 700082, 700084, 54005]);
const CONDITIONAL_ACCESS = new Set([53000, 53001, 53002, 53003, 530003, 530032]);
const CONSENT = new Set([65001, 65004, 650057]);

/**
 * `error` translated when it carries an AADSTS code with a known fix: a person must sign in again (MFA, an
 * ended sign-in) → login required (exit 3); conditional access, consent, a wrong app, tenant or secret → one
 * line naming what to change. Anything else is returned as it was.
 */
export function translateAadsts(error: unknown, providerId: string, person: boolean): unknown {
  const code = aadstsCode(error);
  if (code === undefined) return error;
  const tag = `(AADSTS${code})`;
  const cause = { cause: error };
  if (MFA.has(code)) {
    if (person) return new LoginRequiredError(providerId, `Entra ID asks for multi-factor authentication ${tag}.`, cause);
    return refused(
      `Entra ID asks for multi-factor authentication ${tag}, which a non-interactive identity cannot give: exclude it from the MFA policy, or sign in as a person (identity "person").`,
      error,
    );
  }
  if (SIGN_IN_ENDED.has(code)) {
    return new LoginRequiredError(providerId, `The Entra ID sign-in for "${providerId}" has expired or was revoked ${tag}.`, cause);
  }
  if (CONDITIONAL_ACCESS.has(code)) {
    return refused(
      `A conditional access policy of your organisation blocked the token for "${providerId}" ${tag}: use a device and network it allows, or ask your Entra ID administrator.`,
      error,
    );
  }
  if (CONSENT.has(code)) {
    return refused(
      `The app has no consent for this resource in the tenant ${tag}: ask an administrator to grant it (Entra ID → Enterprise applications), or set "clientId" to an app your organisation allows.`,
      error,
    );
  }
  const fix = CONFIGURATION_FIXES[code];
  return fix ? new ConfigError(`${fix} ${tag}`, cause) : error;
}

function refused(message: string, cause: unknown): ProviderError {
  return new ProviderError(message, { error: 'access_denied' }, { cause });
}

const CONFIGURATION_FIXES: Readonly<Record<number, string>> = {
  700016: 'Entra ID knows no app with this client ID in the tenant: check "clientId" / AZURE_CLIENT_ID and "tenant" / AZURE_TENANT_ID.',
  90002: 'Entra ID knows no such tenant: check "tenant" / AZURE_TENANT_ID.',
  7000215: 'Entra ID refused the client secret: set a current one in AZURE_CLIENT_SECRET.',
  7000222: 'The client secret has expired: create a new one for the app and set it in AZURE_CLIENT_SECRET.',
  700024: 'The federated token is expired or not yet valid: check that AZURE_FEDERATED_TOKEN_FILE is refreshed by the platform.',
  70021:
    "No federated credential of the app matches the token's issuer and subject: add one for this workload (Entra ID → App registrations → Certificates & secrets).",
  500011: 'The resource of the scope does not exist in the tenant: check "scopes".',
  50011:
    'The redirect URI is not registered for the app: add http://localhost (Mobile and desktop applications) to its registration, or set "redirectUri".',
};
