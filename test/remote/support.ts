// Shared by the remote sign-in tests: stand-ins for a device authorization server (RFC 8628) and for OpenAI's
// own device-code protocol, a fake clock, and a way to run the CLI in a pseudo-terminal.
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';

import { createHttp } from '../../src/oauth/http.js';
import type { ServerConnection } from '../../src/oauth/server.js';
import { CLI_ENTRY, cliEnvironment } from '../helpers/cli.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';

/** One scripted answer of the stand-in's token endpoint to a device-code poll. */
export type DeviceAnswer = 'pending' | { slowDown: number | undefined } | 'denied' | 'expired' | 'server_error' | 'tokens';

/** Options of {@link startDeviceStandIn}. */
export interface DeviceStandInOptions {
  /** `interval` in the device authorization response; omitted when undefined. */
  interval?: number | undefined;
  expiresIn?: number;
  userCode?: string;
  /** Replaces the verification URI (default: `<origin>/device`). */
  verificationUri?: string;
  /** Replaces the complete verification URI (default: `<verificationUri>?user_code=…`). */
  verificationUriComplete?: string | null;
  /** Answers to the polls, in order; the last one repeats. */
  answers: DeviceAnswer[];
}

/** A running stand-in device authorization server. */
export interface DeviceStandIn extends HttpServerHandle {
  issuer: string;
  clientId: string;
  /** Form bodies of the device authorization requests. */
  deviceRequests: URLSearchParams[];
  /** Form bodies of the token requests. */
  tokenRequests: URLSearchParams[];
  accessToken: string;
}

/** A device authorization server on loopback whose token endpoint answers the polls as scripted. */
export async function startDeviceStandIn(options: DeviceStandInOptions): Promise<DeviceStandIn> {
  const deviceRequests: URLSearchParams[] = [];
  const tokenRequests: URLSearchParams[] = [];
  const accessToken = randomBytes(24).toString('base64url');
  const deviceCode = randomBytes(24).toString('base64url');
  let origin = '';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then((body) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/.well-known/oauth-authorization-server') {
        return json(res, 200, {
          issuer: origin,
          authorization_endpoint: `${origin}/authorize`,
          token_endpoint: `${origin}/token`,
          device_authorization_endpoint: `${origin}/device`,
          code_challenge_methods_supported: ['S256'],
          grant_types_supported: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        });
      }
      if (req.method === 'POST' && path === '/device') {
        deviceRequests.push(new URLSearchParams(body));
        const verificationUri = options.verificationUri ?? `${origin}/device`;
        const userCode = options.userCode ?? 'WDJB-MJHT';
        return json(res, 200, {
          device_code: deviceCode,
          user_code: userCode,
          verification_uri: verificationUri,
          ...(options.verificationUriComplete === null
            ? {}
            : {
                verification_uri_complete:
                  options.verificationUriComplete ?? `${verificationUri}?user_code=${encodeURIComponent(userCode)}`,
              }),
          expires_in: options.expiresIn ?? 600,
          ...(options.interval === undefined ? {} : { interval: options.interval }),
        });
      }
      if (req.method === 'POST' && path === '/token') {
        const params = new URLSearchParams(body);
        tokenRequests.push(params);
        if (params.get('device_code') !== deviceCode) return json(res, 400, { error: 'invalid_grant' });
        const answer = options.answers[Math.min(tokenRequests.length - 1, options.answers.length - 1)];
        if (answer === 'pending') return json(res, 400, { error: 'authorization_pending' });
        if (answer === 'denied') return json(res, 400, { error: 'access_denied', error_description: 'The end-user denied the request' });
        if (answer === 'expired') return json(res, 400, { error: 'expired_token' });
        if (answer === 'server_error') return json(res, 503, { error: 'temporarily_unavailable' });
        if (answer === 'tokens') {
          return json(res, 200, {
            access_token: accessToken,
            token_type: 'Bearer',
            expires_in: 3600,
            refresh_token: randomBytes(24).toString('base64url'),
          });
        }
        if (answer !== undefined)
          return json(res, 400, { error: 'slow_down', ...(answer.slowDown === undefined ? {} : { interval: answer.slowDown }) });
      }
      return json(res, 404, { error: 'not_found' });
    });
  };
  const server = await startHttpServer(handler);
  origin = server.url;
  return { ...server, issuer: origin, clientId: 'device-test', deviceRequests, tokenRequests, accessToken };
}

/** Options of {@link startOpenAIStandIn}. */
export interface OpenAIStandInOptions {
  /** `interval` as OpenAI sends it (a string of digits). */
  interval?: string | number;
  /** 403 (or 404) answers before the code is issued. */
  pendingPolls?: number;
  /** The user-code endpoint answers 404: device codes are not enabled. */
  disabled?: boolean;
  /** Return a verifier that does not match the challenge. */
  mismatchedPkce?: boolean;
}

/** A running stand-in of auth.openai.com's device-code endpoints. */
export interface OpenAIStandIn extends HttpServerHandle {
  issuer: string;
  clientId: string;
  /** Every request, in order: method, path, and the parsed body (JSON or form). */
  requests: Array<{ method: string; path: string; contentType: string; body: Record<string, string> }>;
  accessToken: string;
}

/**
 * auth.openai.com as Codex CLI's device-code sign-in sees it: JSON user-code and poll endpoints under
 * /api/accounts/deviceauth, 403 while pending, then an authorization code with its PKCE pair, redeemed at
 * /oauth/token (form-encoded) for tokens with an RS256 ID token.
 */
export async function startOpenAIStandIn(options: OpenAIStandInOptions = {}): Promise<OpenAIStandIn> {
  const clientId = 'app_standin';
  const requests: OpenAIStandIn['requests'] = [];
  const deviceAuthId = `deviceauth_${randomBytes(8).toString('hex')}`;
  const userCode = 'ABCD-12345';
  const authorizationCode = randomBytes(24).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const accessToken = randomBytes(24).toString('base64url');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let polls = 0;
  let origin = '';
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then(async (raw) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const contentType = String(req.headers['content-type'] ?? '');
      const body: Record<string, string> = contentType.includes('json')
        ? (JSON.parse(raw || '{}') as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(raw));
      requests.push({ method: req.method ?? '', path, contentType, body });
      if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
        return json(res, 200, {
          issuer: origin,
          authorization_endpoint: `${origin}/oauth/authorize`,
          token_endpoint: `${origin}/oauth/token`,
          jwks_uri: `${origin}/.well-known/jwks.json`,
          code_challenge_methods_supported: ['S256'],
        });
      }
      if (req.method === 'POST' && path === '/api/accounts/deviceauth/usercode') {
        if (options.disabled) return json(res, 404, { error: { message: 'Not found', code: 'not_found' } });
        if (body.client_id !== clientId) return json(res, 400, { error: { message: 'unknown client', code: 'invalid_client' } });
        return json(res, 200, { device_auth_id: deviceAuthId, user_code: userCode, interval: options.interval ?? '5' });
      }
      if (req.method === 'POST' && path === '/api/accounts/deviceauth/token') {
        if (body.device_auth_id !== deviceAuthId || body.user_code !== userCode) return json(res, 400, { error: { message: 'bad poll' } });
        polls += 1;
        if (polls <= (options.pendingPolls ?? 2))
          return json(res, 403, { error: { message: 'Device authorization is pending', code: 'deviceauth_authorization_pending' } });
        return json(res, 200, {
          authorization_code: authorizationCode,
          code_challenge: challenge,
          code_verifier: options.mismatchedPkce ? randomBytes(32).toString('base64url') : verifier,
        });
      }
      if (req.method === 'POST' && path === '/oauth/token') {
        const ok =
          body.grant_type === 'authorization_code' &&
          body.code === authorizationCode &&
          body.code_verifier === verifier &&
          body.client_id === clientId &&
          body.redirect_uri === `${origin}/deviceauth/callback`;
        if (!ok) return json(res, 400, { error: 'invalid_grant', error_description: 'code, verifier, client or redirect_uri is wrong' });
        const now = Math.floor(Date.now() / 1000);
        const idToken = await new SignJWT({
          email: 'person@example.test',
          'https://api.openai.com/auth': { chatgpt_plan_type: 'plus', chatgpt_account_id: 'acct_standin' },
        })
          .setProtectedHeader({ alg: 'RS256', kid: 'standin' })
          .setIssuer(origin)
          .setAudience(clientId)
          .setSubject('user-standin')
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .sign(privateKey);
        return json(res, 200, {
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: 3600,
          refresh_token: randomBytes(24).toString('base64url'),
          id_token: idToken,
        });
      }
      return json(res, 404, { error: { message: 'Not found' } });
    });
  };
  const server = await startHttpServer(handler);
  origin = server.url;
  return { ...server, issuer: origin, clientId, requests, accessToken };
}

/** A clock that only moves when the code under test sleeps; `sleeps` lists every requested pause. */
export function fakeClock(start = 1_700_000_000_000): {
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  sleeps: number[];
  start: number;
} {
  let time = start;
  const sleeps: number[] = [];
  return {
    start,
    sleeps,
    now: () => time,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      time += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

/** A server connection to `issuer` whose every request is recorded with the injected clock's time. */
export function recordingConnection(
  metadata: ServerConnection['metadata'],
  clientId: string,
  now: () => number,
  options: { failFirst?: number; failPath?: string } = {},
): { connection: ServerConnection; requests: Array<{ path: string; at: number }> } {
  const requests: Array<{ path: string; at: number }> = [];
  let failures = options.failFirst ?? 0;
  const fetchRecording = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    requests.push({ path: url.pathname, at: now() });
    if (failures > 0 && url.pathname === options.failPath) {
      failures -= 1;
      // What undici throws when nothing listens on the port.
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    }
    return fetch(input, init);
  };
  const http = createHttp({ fetch: fetchRecording, env: {}, timeoutMs: 5_000 });
  return { connection: { metadata, clientId, http, timeoutMs: 5_000 }, requests };
}

/** A CLI process in a pseudo-terminal (`script` from util-linux): its output, and a way to type into it. */
export interface PtyCli {
  output(): string;
  type(text: string): void;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Runs `loginkit <args>` under `script -qfec … /dev/null`, so that its stdin, stdout and stderr are a terminal,
 * and lets a test act between reading and typing (unlike `inTerminal` in ../helpers/terminal.ts, which plays a
 * fixed dialogue).
 */
export function spawnCliInPty(args: string[], options: { home: string; env?: Record<string, string | undefined> }): PtyCli {
  const command = [process.execPath, CLI_ENTRY, ...args].map(shellQuote).join(' ');
  // A new pty has no size (the spinner would think it is 0 columns wide): give it one, as a terminal would.
  const child = spawn('script', ['-qfec', `stty cols 200 rows 40; exec ${command}`, '/dev/null'], {
    env: { ...cliEnvironment(options.home, options.env ?? {}), TERM: 'xterm-256color' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      output += chunk;
      for (const listener of [...listeners]) listener();
    });
  }
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    output: () => output,
    type: (text) => child.stdin.write(text),
    kill: (signal = 'SIGTERM') => child.kill(signal),
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = stripAnsi(output).match(pattern);
          if (match) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`pty output did not match ${pattern} within ${timeoutMs} ms:\n${stripAnsi(output)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** Output without terminal escape sequences and carriage returns. */
export function stripAnsi(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
