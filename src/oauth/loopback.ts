import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoginkitError } from '../errors.js';
import { checkCallbackState } from './callback-state.js';

/** Why the listener turned a request away; reported so a UI can show it, while the login keeps waiting. */
export type RejectionReason = 'method' | 'path' | 'host' | 'state_missing' | 'state_mismatch' | 'state_repeated' | 'already_used';

/** A loopback HTTP listener waiting for one authorization response (RFC 8252 §7.3). */
export interface LoopbackListener {
  /** The redirect URI to send, with the port actually bound. */
  readonly redirectUri: string;
  /** Resolves with the full callback URL once one request passes method, path, Host and state checks. */
  readonly callback: Promise<URL>;
  /** Answers the held callback with a redirect to the done (or failed) page, then closes everything. */
  finish(outcome: 'done' | 'failed'): Promise<void>;
  /** Closes the listener and every connection now. */
  close(): Promise<void>;
}

/** Options for {@link bindLoopbackListener}. */
export interface LoopbackOptions {
  /** Registered redirect URI: http, loopback host, a path; without a port an ephemeral one is used. */
  redirectUri: string;
  /** The `state` sent in the authorization request. */
  expectedState: string;
  /** Called for every request that is turned away. */
  onRejected?: (reason: RejectionReason) => void;
}

const PAGE_HEADERS = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
} as const;
/** How long to wait for the browser to follow the redirect to the done page before closing anyway. */
const DONE_PAGE_GRACE_MS = 3_000;
const DONE_PATH = '/loginkit/done';
const FAILED_PATH = '/loginkit/failed';

/**
 * Binds the loopback listener for `redirectUri`: 127.0.0.1 (and ::1 too for `localhost`), never all
 * interfaces, on the URI's port or an ephemeral one. Only `GET <path>` with the exact Host and exactly one
 * `state` equal to the expected one (compared in constant time) is accepted; everything else gets a 4xx.
 */
export async function bindLoopbackListener(options: LoopbackOptions): Promise<LoopbackListener> {
  const registered = new URL(options.redirectUri);
  const hosts = bindAddresses(registered.hostname);
  const servers: Server[] = [];
  let resolveCallback!: (url: URL) => void;
  const callback = new Promise<URL>((resolve) => {
    resolveCallback = resolve;
  });
  let held: ServerResponse | undefined;
  let outcomePath: string | undefined;
  let consumed = false;
  let closed = false;
  let donePageServed!: () => void;
  const donePage = new Promise<void>((resolve) => {
    donePageServed = resolve;
  });
  let expectedHost = '';

  const reject = (res: ServerResponse, status: number, reason: RejectionReason): void => {
    options.onRejected?.(reason);
    sendPage(res, status, 'This request was not accepted. Return to your terminal.');
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      return reject(res, 405, 'method');
    }
    if ((req.headers.host ?? '').toLowerCase() !== expectedHost) return reject(res, 421, 'host');
    const url = new URL(req.url ?? '/', `http://${expectedHost}`);
    if (outcomePath && url.pathname === outcomePath) {
      sendPage(res, 200, outcomePath === DONE_PATH ? DONE_TEXT : FAILED_TEXT);
      res.on('finish', donePageServed);
      return;
    }
    if (url.pathname !== registered.pathname) return reject(res, 404, 'path');
    const stateProblem = checkCallbackState(url.searchParams, options.expectedState);
    if (stateProblem) return reject(res, 400, stateProblem);
    if (consumed) return reject(res, 400, 'already_used');
    consumed = true;
    held = res;
    res.on('close', () => {
      if (held === res && !res.writableEnded) held = undefined;
    });
    resolveCallback(new URL(`${redirectUriBase()}${url.search}`));
  };

  let port = registered.port ? Number(registered.port) : 0;
  for (const host of hosts) {
    const server = createServer(handle);
    server.requestTimeout = 15_000;
    server.headersTimeout = 10_000;
    server.keepAliveTimeout = 1_000;
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
    });
    try {
      port = await listen(server, host, port);
      servers.push(server);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (host === '::1' && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue; // no IPv6 here
      await Promise.all(servers.map(closeServer));
      throw bindError(registered, port, error);
    }
  }
  const hostForUri = registered.hostname;
  expectedHost = `${hostForUri}:${port}`.toLowerCase();
  const redirectUriBase = (): string => `http://${hostForUri}:${port}${registered.pathname}`;

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (held && !held.writableEnded) sendPage(held, 503, FAILED_TEXT);
    await Promise.all(servers.map(closeServer));
  };

  return {
    redirectUri: redirectUriBase(),
    callback,
    async finish(outcome) {
      const response = held;
      held = undefined;
      if (!response || response.writableEnded) return close();
      outcomePath = outcome === 'done' ? DONE_PATH : FAILED_PATH;
      response.writeHead(302, { ...PAGE_HEADERS, Location: outcomePath, 'Content-Length': '0' });
      response.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([donePage, new Promise<void>((resolve) => (timer = setTimeout(resolve, DONE_PAGE_GRACE_MS)))]);
      clearTimeout(timer);
      await close();
    },
    close,
  };
}

/** Addresses to bind for a redirect host: `localhost` means both loopback stacks. */
function bindAddresses(hostname: string): string[] {
  if (hostname === 'localhost') return ['127.0.0.1', '::1'];
  if (hostname === '[::1]') return ['::1'];
  return ['127.0.0.1'];
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function bindError(registered: URL, port: number, error: unknown): LoginkitError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new LoginkitError(
      'configuration',
      `Port ${port} on ${registered.hostname} is in use, and the provider's redirect URI ${registered.href} fixes that port.\nClose the program that holds it (e.g. another login) and try again.`,
      { cause: error },
    );
  }
  return new LoginkitError(
    'configuration',
    `Cannot listen on ${registered.hostname}:${port} for the sign-in callback (${code ?? String(error)}).`,
    {
      cause: error,
    },
  );
}

const DONE_TEXT = 'Signed in. You can close this tab and return to your terminal.';
const FAILED_TEXT = 'Sign-in did not complete. Return to your terminal for details.';

function sendPage(res: ServerResponse, status: number, text: string): void {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>loginkit</title><style>body{font:16px system-ui,sans-serif;margin:4rem auto;max-width:32rem;padding:0 1rem}</style></head><body><h1>loginkit</h1><p>${text}</p></body></html>`;
  res.writeHead(status, {
    ...PAGE_HEADERS,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}
