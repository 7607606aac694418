import { type LoginEnvironment, type LoginMethod, chooseLoginMethod, sshForwardingCommand } from './login-environment.js';
import type { CodeExchange } from './authorization-code.js';
import type { DeviceFlowOptions } from './device-flow.js';
import type { LoginEvent } from './events.js';
import type { Sleep } from './polling.js';
import type { ServerConnection } from '../oauth/server.js';
import type { AccountClaimPaths, TokenResult } from '../oauth/tokens.js';

/** A provider's own device sign-in, run instead of RFC 8628 (the caller picks it: sign-in knows no provider). */
export type DeviceFlowRunner = (options: Omit<DeviceFlowOptions, 'params'>) => Promise<TokenResult>;

/** Everything one interactive sign-in needs; {@link signIn} picks the method and runs it. */
export interface SignInRequest {
  providerId: string;
  connection: ServerConnection;
  scopes: readonly string[];
  /** The registered loopback redirect URI; with a port, that port is fixed. */
  redirectUri: string;
  fallbackRedirectPorts?: readonly number[] | undefined;
  authorizeParams: Readonly<Record<string, string>>;
  accountClaims?: AccountClaimPaths | undefined;
  /** The provider's own device flow; otherwise RFC 8628 when its metadata has a device endpoint. */
  deviceFlow?: DeviceFlowRunner | undefined;
  /** The provider's own authorization request and code redemption (see {@link CodeExchange}). */
  codeExchange?: CodeExchange | undefined;
  /** The provider also takes an API key (named in the message that refuses to wait in CI). */
  apiKeySupported: boolean;
  method: LoginMethod | 'auto';
  environment: LoginEnvironment;
  openBrowser: (url: string) => Promise<void>;
  /** The application supplied `openBrowser`: trust it to reach the person. */
  browserInjected: boolean;
  noBrowser: boolean;
  /** What the person pastes, raced against the loopback callback (see `readPastedCallback`). */
  pasted: AsyncIterable<string> | undefined;
  onEvent: (event: LoginEvent) => void;
  signal?: AbortSignal | undefined;
  /** How long to wait for the person; default 5 minutes for the browser, the code's lifetime for a device code. */
  timeoutMs: number | undefined;
  now: () => number;
  sleep?: Sleep | undefined;
}

/** How long a browser or paste sign-in waits by default. */
const DEFAULT_BROWSER_TIMEOUT_MS = 300_000;

/**
 * Runs one interactive sign-in the way that works where this process is: says first how (event
 * `login_method`), then runs the browser flow (with pasting as a fallback), the paste flow, or a device code.
 * Over SSH with a fixed callback port it also names the `ssh -L` command that lets the person's own browser
 * finish the browser flow.
 */
export async function signIn(request: SignInRequest): Promise<TokenResult> {
  const { connection, environment } = request;
  const deviceSupported = request.deviceFlow !== undefined || typeof connection.metadata.device_authorization_endpoint === 'string';
  const choice = chooseLoginMethod({
    requested: request.method,
    environment,
    providerId: request.providerId,
    deviceSupported,
    apiKeySupported: request.apiKeySupported,
    browserInjected: request.browserInjected,
    noBrowser: request.noBrowser,
  });
  request.onEvent({ type: 'login_method', method: choice.method, reason: choice.reason });

  if (choice.method === 'device') {
    const common = {
      connection,
      scopes: request.scopes,
      accountClaims: request.accountClaims,
      onEvent: request.onEvent,
      signal: request.signal,
      timeoutMs: request.timeoutMs,
      now: request.now,
      sleep: request.sleep,
    };
    if (request.deviceFlow) return request.deviceFlow(common);
    const { runDeviceAuthorizationFlow } = await import('./device-flow.js');
    return runDeviceAuthorizationFlow({ ...common, params: deviceRequestParams(request.authorizeParams) });
  }

  const fixedPort = new URL(request.redirectUri).port !== '';
  const onEvent = (event: LoginEvent): void => {
    request.onEvent(event);
    if (event.type === 'authorization_url' && fixedPort && environment.ssh) {
      const port = Number(new URL(event.redirectUri).port);
      request.onEvent({ type: 'port_forwarding', port, command: sshForwardingCommand(environment.ssh, port) });
    }
  };
  const { runAuthorizationCodeFlow } = await import('./authorization-code.js');
  return runAuthorizationCodeFlow({
    connection,
    scopes: request.scopes,
    redirectUri: request.redirectUri,
    fallbackRedirectPorts: request.fallbackRedirectPorts,
    authorizeParams: request.authorizeParams,
    accountClaims: request.accountClaims,
    openBrowser: choice.method === 'browser' && !request.noBrowser ? request.openBrowser : undefined,
    pasted: request.pasted,
    pasteWhen: choice.pasteFromStart ? 'start' : 'browser_failed',
    pasteOnly: choice.method === 'paste',
    onEvent,
    signal: request.signal,
    timeoutMs: request.timeoutMs ?? DEFAULT_BROWSER_TIMEOUT_MS,
    now: request.now,
    exchange: request.codeExchange,
  });
}

/** The authorization parameters that also belong in a device authorization request (RFC 8707 `resource`, `audience`). */
function deviceRequestParams(authorizeParams: Readonly<Record<string, string>>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of ['resource', 'audience']) {
    const value = authorizeParams[name];
    if (value !== undefined) params[name] = value;
  }
  return params;
}
