import * as client from 'openid-client';
import { LoginkitError, interrupted } from '../errors.js';
import type { LoginEvent } from './events.js';
import { bindLoopbackListener } from './loopback.js';
import { createPkcePair, createState } from './pkce.js';
import { type ServerConnection, toConfiguration } from './server.js';
import { type TokenResult, toTokenResult } from './tokens.js';
import { translateOAuthError } from './translate-error.js';

/** Options for {@link runAuthorizationCodeFlow}. */
export interface AuthorizationCodeFlowOptions {
  connection: ServerConnection;
  scopes: readonly string[];
  /** Registered loopback redirect URI (port optional). */
  redirectUri: string;
  /** Extra authorization request parameters from the provider's configuration. */
  authorizeParams: Readonly<Record<string, string>>;
  /** Opens the URL in a browser; undefined means only announce it. Failures are reported, never fatal. */
  openBrowser: ((url: string) => Promise<void>) | undefined;
  onEvent: (event: LoginEvent) => void;
  /** Ends the attempt (Ctrl-C, or an embedding UI's cancel button). */
  signal?: AbortSignal | undefined;
  /** How long to wait for the person, in ms. */
  timeoutMs: number;
  now: () => number;
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
  const listener = await bindLoopbackListener({
    redirectUri: options.redirectUri,
    expectedState: state,
    onRejected: (reason) => onEvent({ type: 'callback_rejected', reason }),
  });
  const deadline = options.now() + options.timeoutMs;
  const stop = new AbortController();
  const timer = setTimeout(
    () =>
      stop.abort(
        new LoginkitError(
          'timeout',
          `Nobody completed the sign-in within ${Math.round(options.timeoutMs / 1000)} s.\nRun the login again (use --timeout SECONDS for more time).`,
        ),
      ),
    options.timeoutMs,
  );
  const onAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw interrupted(options.signal);
    const url = client.buildAuthorizationUrl(config, {
      ...options.authorizeParams,
      redirect_uri: listener.redirectUri,
      scope: options.scopes.join(' '),
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      state,
    });
    onEvent({ type: 'authorization_url', url: url.href, redirectUri: listener.redirectUri });
    if (options.openBrowser) {
      options.openBrowser(url.href).then(
        () => onEvent({ type: 'browser_opened' }),
        (error: unknown) => onEvent({ type: 'browser_failed', message: error instanceof Error ? error.message : String(error) }),
      );
    }
    onEvent({ type: 'waiting', deadline });
    const callbackUrl = await Promise.race([listener.callback, abortion(stop.signal)]);
    onEvent({ type: 'exchanging_code' });
    let tokens: TokenResult;
    try {
      const response = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pkce.verifier,
        expectedState: state,
      });
      tokens = toTokenResult(response, options.scopes, options.now());
    } catch (error) {
      await listener.finish('failed');
      throw translateOAuthError(error, { host: new URL(connection.metadata.issuer).host, what: 'Sign-in' });
    }
    await listener.finish('done');
    return tokens;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await listener.close();
  }
}

function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void => reject(interrupted(signal));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}
