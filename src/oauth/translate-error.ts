import * as client from 'openid-client';
import { ConfigError, LoginkitError, NetworkError, ProviderError, causeChain, sanitizeServerText } from '../errors.js';
import { bodyReadFailure } from '../net/http.js';
import { unsupportedTokenType } from './tokens.js';

/** What was being done when an error happened, for the message. */
export interface ErrorContext {
  /** Host of the server concerned. */
  host: string;
  /** e.g. `token refresh for provider "acme"`. */
  what: string;
}

/** Turns whatever openid-client or fetch threw into one of loginkit's errors with a message a person can act on. */
export function translateOAuthError(error: unknown, context: ErrorContext): LoginkitError {
  const ours = causeChain(error).find((e): e is LoginkitError => e instanceof LoginkitError);
  if (ours) return ours;
  // openid-client swallows a failed read of an error body and reports the status instead: the read failure
  // (too large, timed out) is what happened.
  const answered = causeChain(error).find(isResponse);
  const unread = answered && bodyReadFailure(answered);
  if (unread) return unread;
  if (error instanceof client.ResponseBodyError) {
    return providerError(error.error, error.error_description, error.response, context, error);
  }
  if (error instanceof client.AuthorizationResponseError) {
    return providerError(error.error, error.error_description, undefined, context, error);
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    const code = typeof challenge?.parameters.error === 'string' ? challenge.parameters.error : 'invalid_request';
    return providerError(code, challenge?.parameters.error_description, error.response, context, error);
  }
  const issuer = issuerMismatch(error, context);
  if (issuer) return issuer;
  const code = (error as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'OAUTH_TIMEOUT':
      return new NetworkError('timeout', context.host, `${context.host} did not answer in time during ${context.what}.`, { cause: error });
    case 'OAUTH_ABORT':
      return new LoginkitError('interrupted', 'Interrupted.', { cause: error });
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      return new ProviderError(
        `${context.what} failed: the server's answer did not match what was expected (${(error as Error).message}). Check the provider's issuer setting.`,
        { error: 'invalid_response' },
        { cause: error },
      );
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_PARSE_ERROR':
    case 'OAUTH_INVALID_RESPONSE':
    case 'OAUTH_INVALID_SERVER_METADATA': {
      const response = responseOf(error);
      const status = response?.status;
      return new ProviderError(
        `${context.what} failed: ${context.host} sent ${status && status >= 500 ? `a server error (HTTP ${status})` : `a malformed response${status ? ` (HTTP ${status})` : ''}`}. Try again later; if it persists, check the provider's settings.`,
        { error: status && status >= 500 ? 'server_error' : 'invalid_response', status, retryAfterSeconds: retryAfter(response) },
        { cause: error },
      );
    }
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return unsupportedAnswer(error, context);
    case 'OAUTH_HTTP_REQUEST_FORBIDDEN':
    case 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN':
      return new ConfigError(`${context.what} refused: endpoints must use https (http only on loopback).`, { cause: error });
    default:
      // Unknown to us: named with its host, and not retried (asking again would likely fail the same way).
      return new NetworkError(
        'network',
        context.host,
        `${context.what} failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          transient: false,
        },
      );
  }
}

/**
 * The authorization response's RFC 9207 `iss` names another server, or is missing although the server
 * promised it: a mix-up attack or a misconfigured server, refused before the code is redeemed.
 */
function issuerMismatch(error: unknown, context: ErrorContext): ProviderError | undefined {
  const found = causeChain(error).find(
    (e): e is Error & { cause?: { expected?: unknown; parameters?: unknown } } =>
      e instanceof Error &&
      /^(unexpected "iss" \(issuer\) response parameter value|response parameter "iss" \(issuer\) missing)$/.test(e.message),
  );
  if (!found) return undefined;
  const expected = typeof found.cause?.expected === 'string' ? ` (${sanitizeServerText(found.cause.expected, 200)})` : '';
  const parameters = found.cause?.parameters;
  const got = parameters instanceof URLSearchParams ? parameters.get('iss') : null;
  const what = got
    ? `the authorization response names issuer "${sanitizeServerText(got, 200)}", not the server the sign-in went to${expected}`
    : `the authorization response names no issuer, though ${context.host} advertises that it always does`;
  return new ProviderError(
    `${context.what} refused: ${what} (RFC 9207 iss); the code was not redeemed.`,
    { error: 'invalid_response' },
    { cause: error },
  );
}

function providerError(
  error: string,
  description: string | undefined,
  response: Response | undefined,
  context: ErrorContext,
  cause: unknown,
): ProviderError {
  const cleanError = sanitizeServerText(error, 80);
  const cleanDescription = description ? sanitizeServerText(description) : undefined;
  return new ProviderError(
    `${context.what} failed: ${cleanError}${cleanDescription ? ` (${cleanDescription})` : ''}`,
    { error: cleanError, errorDescription: cleanDescription, status: response?.status, retryAfterSeconds: retryAfter(response) },
    { cause },
  );
}

/** openid-client met something in the server's answer that it (or loginkit) does not implement: a protocol problem. */
function unsupportedAnswer(error: unknown, context: ErrorContext): ProviderError {
  const who = `${context.what} failed: ${context.host}`;
  const detail = (error as { cause?: { message?: unknown; cause?: { body?: { token_type?: unknown } } } }).cause;
  const tokenType = detail?.cause?.body?.token_type;
  if (typeof tokenType === 'string') return unsupportedTokenType(tokenType, who, error);
  const what = typeof detail?.message === 'string' ? ` (${sanitizeServerText(detail.message, 120)})` : '';
  return new ProviderError(
    `${who} answered with something loginkit does not support${what}. Check the provider's settings.`,
    { error: 'invalid_response' },
    { cause: error },
  );
}

function responseOf(error: unknown): Response | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return isResponse(cause) ? cause : undefined;
}

/**
 * Duck-typed, not `instanceof Response`: the default fetch is undici's own (for proxy support), whose
 * Response is a different class from the global one, and a caller's fetch may bring yet another.
 */
function isResponse(value: unknown): value is Response {
  if (typeof value !== 'object' || value === null) return false;
  const { status, headers } = value as { status?: unknown; headers?: { get?: unknown } };
  return typeof status === 'number' && typeof headers?.get === 'function';
}

/** `Retry-After` in seconds, from either of its two forms (delay or HTTP date). */
function retryAfter(response: Response | undefined): number | undefined {
  const value = response?.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}
