import * as client from 'openid-client';
import { ConfigError, ProviderError, SignInTimeoutError, sanitizeServerText, throwIfAborted } from '../errors.js';
import { endpointProblem } from '../providers/endpoints.js';
import { abortableConnection } from './abort.js';
import type { LoginEvent } from './events.js';
import { type PollOutcome, type Sleep, pollUntilDone, realSleep } from './polling.js';
import { type ServerConnection, dpopOption, toConfiguration } from '../oauth/server.js';
import { type AccountClaimPaths, type TokenResult, toTokenResult } from '../oauth/tokens.js';
import { translateOAuthError } from '../oauth/translate-error.js';

/** The grant type of RFC 8628 §3.4. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** The polling interval when the server names none (RFC 8628 §3.2). */
export const DEFAULT_DEVICE_INTERVAL_MS = 5_000;
/**
 * The longest device-code lifetime loginkit waits out: one hour (servers give 5 to 30 minutes; RFC 8628's
 * example is 1800 s). A larger `expires_in` would keep a forgotten login polling for days, and its expiry
 * time could not even be printed.
 */
export const MAX_DEVICE_CODE_LIFETIME_MS = 60 * 60_000;

/** Options for {@link runDeviceAuthorizationFlow}. */
export interface DeviceFlowOptions {
  connection: ServerConnection;
  scopes: readonly string[];
  /** Extra parameters for the device authorization request, e.g. `resource` (RFC 8707). */
  params?: Readonly<Record<string, string>> | undefined;
  /** Where the provider's ID token keeps plan and workspace. */
  accountClaims?: AccountClaimPaths | undefined;
  onEvent: (event: LoginEvent) => void;
  /** Stops polling at once (Ctrl-C, or an embedding UI's cancel button). */
  signal?: AbortSignal | undefined;
  /** Gives up sooner than the code's own lifetime, in ms. */
  timeoutMs?: number | undefined;
  now: () => number;
  /** Default: the real clock. */
  sleep?: Sleep | undefined;
}

/** What the person is asked to do, already checked and stripped of control characters. */
export interface DevicePrompt {
  verificationUri: string;
  userCode: string;
  verificationUriComplete: string | undefined;
  /** When the code stops working (ms since the epoch). */
  expiresAt: number;
}

/**
 * OAuth 2.0 Device Authorization Grant (RFC 8628): asks the device authorization endpoint for a code,
 * announces it (event `device_code`), then polls the token endpoint on the RFC's schedule (see
 * {@link pollUntilDone}) until the person approves, denies, or the code expires.
 */
export async function runDeviceAuthorizationFlow(options: DeviceFlowOptions): Promise<TokenResult> {
  const { onEvent, now, signal } = options;
  const { metadata } = options.connection;
  if (!metadata.device_authorization_endpoint) {
    throw new ConfigError(`${metadata.issuer} offers no device sign-in (its metadata has no device_authorization_endpoint).`);
  }
  throwIfAborted(signal);
  const config = toConfiguration(abortableConnection(options.connection, signal));
  const host = new URL(metadata.issuer).host;
  let authorization: client.DeviceAuthorizationResponse;
  try {
    authorization = await client.initiateDeviceAuthorization(config, { ...options.params, scope: options.scopes.join(' ') });
  } catch (error) {
    throwIfAborted(signal);
    throw translateOAuthError(error, { host, what: 'The device sign-in request' });
  }
  const start = now();
  const prompt = devicePrompt(authorization, start, host);
  onEvent({ type: 'device_code', ...prompt });
  const deadline = options.timeoutMs === undefined ? prompt.expiresAt : Math.min(prompt.expiresAt, start + options.timeoutMs);
  onEvent({ type: 'waiting', deadline });

  const attempt = async (): Promise<PollOutcome<TokenResult>> => {
    try {
      const response = await client.genericGrantRequest(
        config,
        DEVICE_CODE_GRANT,
        { ...options.connection.tokenParameters, device_code: authorization.device_code },
        await dpopOption(config, options.connection),
      );
      return {
        kind: 'done',
        value: toTokenResult(response, options.scopes, now(), undefined, options.accountClaims, options.connection.dpopKey !== undefined),
      };
    } catch (error) {
      if (error instanceof client.ResponseBodyError) {
        switch (error.error) {
          case 'authorization_pending':
            return { kind: 'pending' };
          case 'slow_down':
            return { kind: 'slow_down', intervalMs: secondsToMs(error.cause.interval) };
          case 'access_denied':
            throw new ProviderError(
              `The sign-in was declined on the verification page${describe(error.error_description)}.\nNothing was stored. If you meant to sign in, run the login again.`,
              { error: 'access_denied', errorDescription: clean(error.error_description), status: error.status },
              { cause: error },
            );
          case 'expired_token':
            throw expiredCodeError(prompt.userCode, error);
        }
      }
      throw translateOAuthError(error, { host, what: 'Device sign-in' });
    }
  };

  return pollUntilDone({
    attempt,
    intervalMs: secondsToMs(authorization.interval) ?? DEFAULT_DEVICE_INTERVAL_MS,
    deadline,
    expired: () => (deadline < prompt.expiresAt ? new SignInTimeoutError(deadline - start) : expiredCodeError(prompt.userCode)),
    onProgress: (progress) => onEvent({ type: 'device_poll', ...progress }),
    now,
    sleep: options.sleep ?? realSleep,
    signal,
  });
}

/**
 * The verification address and code as they may be shown: addresses must be https (http only on loopback),
 * the complete URI is dropped unless it is on the same origin as the verification URI (so a server cannot
 * send the person somewhere else than the address they read), and all text is stripped of control characters.
 */
function devicePrompt(authorization: client.DeviceAuthorizationResponse, start: number, host: string): DevicePrompt {
  const problem = endpointProblem(authorization.verification_uri);
  if (problem) throw new ProviderError(`${host} sent a verification address that ${problem}`, { error: 'invalid_response' });
  const userCode = clean(authorization.user_code);
  if (!userCode) throw new ProviderError(`${host} sent an empty user code.`, { error: 'invalid_response' });
  const verificationUri = new URL(authorization.verification_uri);
  const complete = authorization.verification_uri_complete;
  const completeUri =
    typeof complete === 'string' && !endpointProblem(complete) && new URL(complete).origin === verificationUri.origin
      ? new URL(complete).href
      : undefined;
  return {
    verificationUri: sanitizeServerText(verificationUri.href, 2_000),
    userCode,
    verificationUriComplete: completeUri === undefined ? undefined : sanitizeServerText(completeUri, 2_000),
    expiresAt: start + Math.min(authorization.expires_in * 1000, MAX_DEVICE_CODE_LIFETIME_MS),
  };
}

function expiredCodeError(userCode: string, cause?: unknown): ProviderError {
  return new ProviderError(
    `The code ${userCode} expired before the sign-in was completed.\nRun the login again for a new code, and enter it within its lifetime.`,
    { error: 'expired_token' },
    { cause },
  );
}

/** Seconds (a number, or digits as text) as milliseconds; undefined for anything else. */
export function secondsToMs(value: unknown): number | undefined {
  const seconds = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function clean(text: string | undefined): string | undefined {
  return text ? sanitizeServerText(text, 100) || undefined : undefined;
}

function describe(description: string | undefined): string {
  const text = clean(description);
  return text ? ` (${text})` : '';
}
