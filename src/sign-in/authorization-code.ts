import * as client from 'openid-client';
import { LoginkitError, ProviderError, SignInTimeoutError, interrupted, sanitizeServerText } from '../errors.js';
import { abortion } from './abort.js';
import type { LoginEvent } from './events.js';
import { type LoopbackListener, type LoopbackOptions, bindLoopbackListener } from './loopback.js';
import { readPastedCallback } from './paste.js';
import { describePortHolder } from './port-holder.js';
import { createPkcePair, createState } from '../oauth/pkce.js';
import { type ServerConnection, dpopOption, toConfiguration } from '../oauth/server.js';
import { type AccountClaimPaths, type TokenResult, toTokenResult } from '../oauth/tokens.js';
import { translateOAuthError } from '../oauth/translate-error.js';

/** Options for {@link runAuthorizationCodeFlow}. */
export interface AuthorizationCodeFlowOptions {
  connection: ServerConnection;
  scopes: readonly string[];
  /** Registered loopback redirect URI (port optional). */
  redirectUri: string;
  /** Other registered ports to try, in order, when the redirect URI's fixed port is busy. */
  fallbackRedirectPorts?: readonly number[] | undefined;
  /** Where the provider's ID token keeps plan and workspace. */
  accountClaims?: AccountClaimPaths | undefined;
  /** Extra authorization request parameters from the provider's configuration. */
  authorizeParams: Readonly<Record<string, string>>;
  /** Opens the URL in a browser; undefined means only announce it. Failures are reported, never fatal. */
  openBrowser: ((url: string) => Promise<void>) | undefined;
  /** What the person pastes (the URL their browser ended on), raced against the callback and checked the same way. */
  pasted?: AsyncIterable<string> | undefined;
  /** Read `pasted` from the start (default), or only once the browser could not be opened. */
  pasteWhen?: 'start' | 'browser_failed' | undefined;
  /** Pasting is the way to sign in: the login fails when the pasted input ends with nothing accepted. */
  pasteOnly?: boolean | undefined;
  onEvent: (event: LoginEvent) => void;
  /** Ends the attempt (Ctrl-C, or an embedding UI's cancel button). */
  signal?: AbortSignal | undefined;
  /** How long to wait for the person, in ms. */
  timeoutMs: number;
  now: () => number;
  /** Replaces OAuth's authorization request and code redemption for a server that speaks its own dialect. */
  exchange?: CodeExchange | undefined;
}

/**
 * The two steps of an authorization-code sign-in that differ at a server with its own API (AWS IAM Identity
 * Center registers a client for the listener's redirect URI, and redeems codes with CreateToken). The
 * listener, PKCE, `state`, the browser, pasting and every check of the callback stay loginkit's.
 */
export interface CodeExchange {
  /** The URL to send the person to, once the listener's redirect URI is known. */
  authorizationUrl(request: { redirectUri: string; state: string; codeChallenge: string }): Promise<URL>;
  /** Redeems the code of a callback whose `state` was checked. */
  redeem(grant: { code: string; redirectUri: string; codeVerifier: string }): Promise<TokenResult>;
}

/**
 * OAuth 2.0 Authorization Code with PKCE (S256) through a browser and a loopback listener: fresh verifier
 * and 256-bit state per attempt, callback validated (state, then RFC 9207 `iss`, then `error`/`code`), and
 * the code redeemed once at the token endpoint of the server the request went to.
 */
export async function runAuthorizationCodeFlow(options: AuthorizationCodeFlowOptions): Promise<TokenResult> {
  const { connection, onEvent } = options;
  const config = toConfiguration(connection);
  const pkce = await createPkcePair();
  const state = createState();
  const listener = await bindWithFallback(
    {
      redirectUri: options.redirectUri,
      expectedState: state,
      onRejected: (reason) => onEvent({ type: 'callback_rejected', reason }),
    },
    options.fallbackRedirectPorts ?? [],
    onEvent,
  );
  const deadline = options.now() + options.timeoutMs;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new SignInTimeoutError(options.timeoutMs)), options.timeoutMs);
  const onAbort = (): void => stop.abort(options.signal?.reason);
  const pasting = new AbortController();
  let startPasting = (): void => undefined;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw interrupted(options.signal);
    const url = options.exchange
      ? await options.exchange.authorizationUrl({ redirectUri: listener.redirectUri, state, codeChallenge: pkce.challenge })
      : client.buildAuthorizationUrl(config, {
          ...options.authorizeParams,
          redirect_uri: listener.redirectUri,
          scope: options.scopes.join(' '),
          code_challenge: pkce.challenge,
          code_challenge_method: 'S256',
          state,
        });
    onEvent({ type: 'authorization_url', url: url.href, redirectUri: listener.redirectUri });
    const pasted = new Promise<URL>((resolve, reject) => {
      startPasting = () => {
        if (!options.pasted || pasting.signal.aborted) return;
        const reading = {
          redirectUri: listener.redirectUri,
          expectedState: state,
          onEvent,
          signal: pasting.signal,
          whenInputEnds: options.pasteOnly ? ('fail' as const) : ('wait' as const),
        };
        readPastedCallback(options.pasted, reading).then(resolve, reject);
        startPasting = () => undefined;
      };
    });
    pasted.catch(() => undefined);
    if (options.openBrowser) {
      options.openBrowser(url.href).then(
        () => onEvent({ type: 'browser_opened' }),
        (error: unknown) => {
          onEvent({ type: 'browser_failed', message: error instanceof Error ? error.message : String(error) });
          startPasting();
        },
      );
    }
    if (!options.openBrowser || options.pasteWhen !== 'browser_failed') startPasting();
    onEvent({ type: 'waiting', deadline });
    // Whichever comes first, the listener's callback or a pasted URL, goes through the same exchange below.
    const callbackUrl = await Promise.race([listener.callback, pasted, abortion(stop.signal)]);
    pasting.abort();
    onEvent({ type: 'exchanging_code' });
    let tokens: TokenResult;
    try {
      if (options.exchange) {
        tokens = await options.exchange.redeem({
          code: codeOf(callbackUrl),
          redirectUri: listener.redirectUri,
          codeVerifier: pkce.verifier,
        });
        await listener.finish('done');
        return tokens;
      }
      const response = await client.authorizationCodeGrant(
        config,
        callbackUrl,
        { pkceCodeVerifier: pkce.verifier, expectedState: state },
        connection.tokenParameters,
        await dpopOption(config, connection),
      );
      tokens = toTokenResult(response, options.scopes, options.now(), undefined, options.accountClaims, connection.dpopKey !== undefined);
    } catch (error) {
      await listener.finish('failed');
      if (error instanceof LoginkitError) throw error;
      throw translateOAuthError(error, { host: new URL(connection.metadata.issuer).host, what: 'Sign-in' });
    }
    await listener.finish('done');
    return tokens;
  } finally {
    clearTimeout(timer);
    pasting.abort();
    options.signal?.removeEventListener('abort', onAbort);
    await listener.close();
  }
}

/** The code of a callback whose state was checked; an `error` there is the server's refusal, stripped for display. */
function codeOf(callbackUrl: URL): string {
  const error = callbackUrl.searchParams.get('error');
  if (error !== null) {
    const description = sanitizeServerText(callbackUrl.searchParams.get('error_description') ?? '', 200);
    throw new ProviderError(`The sign-in was refused: ${sanitizeServerText(error, 60)}${description ? ` (${description})` : ''}.`, {
      error: sanitizeServerText(error, 60),
      errorDescription: description || undefined,
    });
  }
  const code = callbackUrl.searchParams.get('code');
  if (!code) throw new ProviderError('The sign-in ended without an authorization code.', { error: 'invalid_response' });
  return code;
}

/**
 * Binds the redirect URI's port, or the next registered fallback port when it is busy (a provider that
 * registered fixed ports), telling the person which process holds a busy port where that can be seen.
 */
async function bindWithFallback(
  options: LoopbackOptions,
  fallbackPorts: readonly number[],
  onEvent: (event: LoginEvent) => void,
): Promise<LoopbackListener> {
  const candidates = [options.redirectUri, ...fallbackPorts.map((port) => withPort(options.redirectUri, port))];
  for (const [index, redirectUri] of candidates.entries()) {
    try {
      return await bindLoopbackListener({ ...options, redirectUri });
    } catch (error) {
      const busy = ((error as { cause?: NodeJS.ErrnoException }).cause?.code ?? '') === 'EADDRINUSE';
      const next = candidates[index + 1];
      if (!busy || next === undefined) throw error;
      const port = Number(new URL(redirectUri).port);
      onEvent({ type: 'port_busy', port, holder: describePortHolder(port), nextPort: Number(new URL(next).port) });
    }
  }
  throw new LoginkitError('configuration', 'No callback port could be bound.');
}

function withPort(redirectUri: string, port: number): string {
  const url = new URL(redirectUri);
  url.port = String(port);
  return url.href;
}
