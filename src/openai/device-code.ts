// OpenAI's own device-code sign-in, as its open-source Codex CLI speaks it (codex-rs/login/src/device_code_auth.rs):
//   POST {issuer}/api/accounts/deviceauth/usercode  {"client_id"}  -> {"device_auth_id", "user_code", "interval"}
//        (404: device codes are not enabled)
//   the person opens {issuer}/codex/device and enters the user code
//   POST {issuer}/api/accounts/deviceauth/token  {"device_auth_id", "user_code"}  -> 403/404 while pending, then
//        {"authorization_code", "code_challenge", "code_verifier"}
//   an ordinary authorization_code exchange at the token endpoint with that PKCE verifier and
//        redirect_uri {issuer}/deviceauth/callback.
import * as client from 'openid-client';
import * as z from 'zod/mini';
import { LoginkitError, ProviderError, SignInTimeoutError, sanitizeServerText, throwIfAborted } from '../errors.js';
import { abortableConnection } from '../sign-in/abort.js';
import { type DeviceFlowOptions, secondsToMs } from '../sign-in/device-flow.js';
import type { FetchLike } from '../net/http.js';
import { pkceChallenge } from '../oauth/pkce.js';
import { type PollOutcome, pollUntilDone, realSleep } from '../sign-in/polling.js';
import { toConfiguration } from '../oauth/server.js';
import { type TokenResult, toTokenResult } from '../oauth/tokens.js';
import { translateOAuthError } from '../oauth/translate-error.js';

/** How long a code is good for: Codex CLI gives up after 15 minutes and tells the person so. */
export const OPENAI_DEVICE_CODE_LIFETIME_MS = 15 * 60_000;
const DEFAULT_INTERVAL_MS = 5_000;

/** The addresses of OpenAI's device-code sign-in under an issuer such as `https://auth.openai.com`. */
export function openAIDeviceCodeUrls(issuer: string): { userCode: string; token: string; verification: string; redirectUri: string } {
  const base = issuer.replace(/\/+$/, '');
  return {
    userCode: `${base}/api/accounts/deviceauth/usercode`,
    token: `${base}/api/accounts/deviceauth/token`,
    verification: `${base}/codex/device`,
    redirectUri: `${base}/deviceauth/callback`,
  };
}

/** Options for {@link runOpenAIDeviceCodeFlow}: those of the RFC 8628 flow, without its request parameters; `timeoutMs` gives up sooner than the code's 15 minutes. */
export type OpenAIDeviceCodeOptions = Omit<DeviceFlowOptions, 'params'>;

const UserCodeResponse = z.object({
  device_auth_id: z.string().check(z.minLength(1)),
  user_code: z.optional(z.string()),
  usercode: z.optional(z.string()),
  interval: z.optional(z.union([z.number(), z.string()])),
});

const IssuedCode = z.object({
  authorization_code: z.string().check(z.minLength(1)),
  code_challenge: z.string().check(z.minLength(1)),
  code_verifier: z.string().check(z.regex(/^[A-Za-z0-9._~-]{43,128}$/)),
});

/**
 * Signs in to ChatGPT with a code entered on another device, the way Codex CLI's `login --device-auth` does,
 * and returns the tokens of the final code exchange. Announces the code (`device_code`), polls on the same
 * schedule as RFC 8628 (403/404 mean "not yet"), checks that the PKCE pair the server returns belongs
 * together, then redeems the code at the token endpoint from the connection's metadata.
 */
export async function runOpenAIDeviceCodeFlow(options: OpenAIDeviceCodeOptions): Promise<TokenResult> {
  const { onEvent, now, signal } = options;
  throwIfAborted(signal);
  const connection = abortableConnection(options.connection, signal);
  const urls = openAIDeviceCodeUrls(connection.metadata.issuer);
  const host = new URL(urls.userCode).host;

  const requested = await postJson(connection.http, urls.userCode, { client_id: connection.clientId });
  if (requested.status === 404) {
    throw new ProviderError(
      `Device code sign-in is not enabled for this account or workspace (${host} answered 404).\n` +
        'Turn on device code sign-in in your ChatGPT security settings, or ask your workspace admin to allow it; ' +
        'or sign in another way: the browser method, or paste to paste the address your browser ends on (loginkit login openai --method browser | --paste).',
      { error: 'device_code_not_enabled', status: 404 },
    );
  }
  if (!requested.ok) throw await httpFailure(requested, host, 'The device code request');
  const issued = UserCodeResponse.safeParse(await readJson(requested));
  const userCode = issued.success ? sanitizeServerText(issued.data.user_code ?? issued.data.usercode ?? '', 100) : '';
  if (!issued.success || !userCode) {
    throw new ProviderError(`${host} sent a malformed device code response.`, { error: 'invalid_response', status: requested.status });
  }
  const start = now();
  const expiresAt = start + OPENAI_DEVICE_CODE_LIFETIME_MS;
  onEvent({ type: 'device_code', verificationUri: urls.verification, userCode, verificationUriComplete: undefined, expiresAt });
  const deadline = options.timeoutMs === undefined ? expiresAt : Math.min(expiresAt, start + options.timeoutMs);
  onEvent({ type: 'waiting', deadline });

  const attempt = async (): Promise<PollOutcome<z.infer<typeof IssuedCode>>> => {
    const response = await postJson(connection.http, urls.token, { device_auth_id: issued.data.device_auth_id, user_code: userCode });
    if (response.status === 403 || response.status === 404) {
      await response.body?.cancel().catch(() => undefined);
      return { kind: 'pending' };
    }
    if (!response.ok) throw await httpFailure(response, host, 'Device sign-in');
    const code = IssuedCode.safeParse(await readJson(response));
    if (!code.success)
      throw new ProviderError(`${host} sent a malformed answer to device sign-in.`, { error: 'invalid_response', status: response.status });
    return { kind: 'done', value: code.data };
  };

  const code = await pollUntilDone({
    attempt,
    intervalMs: secondsToMs(issued.data.interval) ?? DEFAULT_INTERVAL_MS,
    deadline,
    expired: () =>
      deadline < expiresAt
        ? new SignInTimeoutError(deadline - start)
        : new ProviderError(
            `The code ${userCode} expired before the sign-in was completed (codes last 15 minutes).\nRun the login again for a new code.`,
            { error: 'expired_token' },
          ),
    onProgress: (progress) => onEvent({ type: 'device_poll', ...progress }),
    now,
    sleep: options.sleep ?? realSleep,
    signal,
  });

  if ((await pkceChallenge(code.code_verifier)) !== code.code_challenge) {
    throw new ProviderError(`${host} returned a PKCE verifier that does not match its challenge; nothing was redeemed.`, {
      error: 'invalid_response',
    });
  }
  onEvent({ type: 'exchanging_code' });
  try {
    const response = await client.genericGrantRequest(toConfiguration(connection), 'authorization_code', {
      code: code.authorization_code,
      redirect_uri: urls.redirectUri,
      code_verifier: code.code_verifier,
    });
    return toTokenResult(response, options.scopes, now(), undefined, options.accountClaims);
  } catch (error) {
    throwIfAborted(signal);
    throw translateOAuthError(error, { host, what: 'Device sign-in' });
  }
}

function postJson(http: FetchLike, url: string, body: Record<string, string>): Promise<Response> {
  return http(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The body as JSON, undefined when it is not JSON; a body that could not be read (too large, timed out) throws. */
async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch (error) {
    if (error instanceof LoginkitError) throw error;
    return undefined;
  }
}

/** An unexpected HTTP status, with whatever error text the body carries (OAuth style or OpenAI's `{error: {message}}`). */
async function httpFailure(response: Response, host: string, what: string): Promise<ProviderError> {
  const body = await readJson(response);
  const error = (body as { error?: unknown } | undefined)?.error;
  const code =
    typeof error === 'string'
      ? error
      : typeof (error as { code?: unknown })?.code === 'string'
        ? String((error as { code: string }).code)
        : undefined;
  const description =
    typeof (body as { error_description?: unknown })?.error_description === 'string'
      ? String((body as { error_description: string }).error_description)
      : typeof (error as { message?: unknown })?.message === 'string'
        ? String((error as { message: string }).message)
        : undefined;
  const detail = [code, description]
    .filter(Boolean)
    .map((text) => sanitizeServerText(String(text), 200))
    .join(': ');
  return new ProviderError(`${what} failed: ${host} answered HTTP ${response.status}${detail ? ` (${detail})` : ''}.`, {
    error: code ? sanitizeServerText(code, 80) : response.status >= 500 ? 'server_error' : 'invalid_response',
    errorDescription: description ? sanitizeServerText(description) : undefined,
    status: response.status,
  });
}
