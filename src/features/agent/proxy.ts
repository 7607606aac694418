import { closeSync, openSync, writeSync } from 'node:fs';
import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
  createServer,
  request as httpRequest,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { LoginkitError } from '../../errors.js';
import { isLoopbackHost } from '../../providers/endpoints.js';
import type { KeyHeader } from '../../providers/catalog.js';
import type { Capabilities, Capability } from './broker.js';
import { listenOnLoopback } from './loopback-server.js';

// The agent's reverse proxy for brokered children, on 127.0.0.1. A child's base-URL variable points at
// `/<provider>` here and its key variable holds its capability; a request is forwarded only to that
// provider's configured base URL (origin and path prefix), with the capability swapped for the real key.
// Bodies stream both ways as they arrive (server-sent events included), bounded in size and idle time.

/** Largest request body forwarded. */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Largest response body forwarded. */
export const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;
/** Longest wait for the upstream's answer: a model may think for minutes (the openai and anthropic SDKs wait 10 min). */
export const ANSWER_TIMEOUT_MS = 600_000;
/** Longest silence in a streamed answer before it is ended. */
export const IDLE_TIMEOUT_MS = 300_000;

/** Where a provider's requests go and with which key. */
export interface UpstreamRoute {
  /** The configured base URL: requests go below it only. */
  base: URL;
  header: KeyHeader;
  key: string;
}

/** A cloud's credential endpoint answer (see cloud-endpoints.ts). */
export interface EndpointAnswer {
  status: number;
  /** JSON, or plain text when a string. */
  body: unknown;
  headers?: Record<string, string>;
}

/** What the proxy asks the agent. */
export interface ProxyHooks {
  capabilities: Capabilities;
  /** The provider's upstream and key for a live capability that names it; throws when it cannot be brokered. */
  upstream(provider: string, capability: Capability): Promise<UpstreamRoute>;
  /** The key header a provider's child sends (where the capability is looked for). */
  keyHeader(provider: string): Promise<KeyHeader | undefined>;
  /** A cloud endpoint: `/cloud/<type>/<provider>`; undefined when the request is not one. */
  cloud(type: string, provider: string, request: IncomingMessage): Promise<EndpointAnswer>;
  auditLog: string;
}

/** The running proxy. */
export interface Proxy {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Starts the proxy on 127.0.0.1 (any free port). */
export async function startProxy(hooks: ProxyHooks): Promise<Proxy> {
  const audit = openSync(hooks.auditLog, 'a', 0o600);
  const server = createServer({ headersTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
    // A LoginkitError says what to do (e.g. the agent is locked); any other failure is not described to the child.
    void handle(hooks, audit, req, res).catch((error: unknown) =>
      refuse(res, 502, error instanceof LoginkitError ? error.message.split('\n').join(' ') : 'it failed to forward this request'),
    );
  });
  // CONNECT (a tunnel to anywhere) is not a thing this proxy does.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nloginkit agent: CONNECT is refused\n',
    );
  });
  const listening = await listenOnLoopback(server);
  return {
    origin: listening.origin,
    close: async () => {
      await listening.close();
      closeSync(audit);
    },
  };
}

async function handle(hooks: ProxyHooks, audit: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? '';
  // Origin-form only: an absolute URL (a forward-proxy request) would name its own host.
  if (!target.startsWith('/') || target.startsWith('//')) return refuse(res, 400, "only requests to this proxy's own paths are forwarded");
  const [pathPart = '', ...queryParts] = target.split('?');
  const query = queryParts.length > 0 ? `?${queryParts.join('?')}` : '';
  const segments = pathPart.split('/').slice(1);
  if (segments[0] === 'cloud' && segments.length === 3) {
    return writeAnswer(res, await hooks.cloud(segments[1] as string, segments[2] as string, req));
  }
  const provider = segments[0] ?? '';
  const header = /^[a-z0-9][a-z0-9._-]*$/.test(provider) ? await hooks.keyHeader(provider) : undefined;
  if (!header) return refuse(res, 404, `no provider "${provider.slice(0, 40)}" is brokered here`);
  const presented = presentedKey(req.headers, header);
  const capability = presented === undefined ? undefined : hooks.capabilities.find(presented, provider);
  if (!capability)
    return refuse(res, 401, `this key is not a live capability for ${provider} (it ended with its child, or was never given)`);
  const rest = safeRest(segments.slice(1));
  if (rest === undefined) return refuse(res, 400, 'dot segments and encoded slashes are not forwarded');
  if ([...hooks.capabilities.secrets()].some((secret) => query.includes(secret)))
    return refuse(res, 400, 'a capability in the query is not forwarded');
  const route = await hooks.upstream(provider, capability);
  const url = upstreamUrl(route.base, rest, query);
  if (!url) return refuse(res, 400, "the path leaves the provider's base URL");
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return refuse(res, 502, `${provider}'s base URL is not https; the key is not sent there`);
  }
  forward(hooks, audit, req, res, { url, route, capability, provider });
}

/** Sends a cloud endpoint's answer. */
export function writeAnswer(res: ServerResponse, answer: EndpointAnswer): void {
  const text = typeof answer.body === 'string';
  res
    .writeHead(answer.status, {
      ...answer.headers,
      'content-type': text ? 'text/plain; charset=utf-8' : 'application/json',
      'cache-control': 'no-store',
    })
    .end(text ? answer.body : JSON.stringify(answer.body));
}

/**
 * The capability the child sent: in the provider's key header (without its scheme), or as a Bearer token
 * (some SDKs send a key that way, e.g. `@anthropic-ai/sdk` for a key of an unknown shape).
 */
function presentedKey(headers: IncomingHttpHeaders, header: KeyHeader): string | undefined {
  const raw = headers[header.name.toLowerCase()];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  const scheme = header.scheme?.toLowerCase();
  const inHeader = value === undefined ? undefined : scheme ? withScheme(value, scheme) : value;
  return inHeader ?? withScheme(headers.authorization?.trim() ?? '', 'bearer');
}

function withScheme(value: string, scheme: string): string | undefined {
  const match = /^(\S+)\s+(\S+)$/.exec(value);
  return match && match[1]?.toLowerCase() === scheme ? match[2] : undefined;
}

/**
 * The path below the provider's prefix, or undefined when a segment is a dot segment (`.`, `..`, raw or
 * percent-encoded) or hides a slash or backslash: such a path could leave the base URL upstream.
 */
export function safeRest(segments: readonly string[]): string | undefined {
  for (const segment of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (decoded === '.' || decoded === '..' || /[/\\]/.test(decoded) || /[\\]/.test(segment)) return undefined;
  }
  return segments.length === 0 ? '' : `/${segments.join('/')}`;
}

/** The upstream URL below `base`, or undefined when it would not be below it. */
function upstreamUrl(base: URL, rest: string, query: string): URL | undefined {
  const prefix = base.pathname.replace(/\/+$/, '');
  const url = new URL(base.origin);
  url.pathname = `${prefix}${rest}`;
  url.search = query;
  const inside = url.origin === base.origin && (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`) || prefix === '');
  return inside ? url : undefined;
}

interface Forwarding {
  url: URL;
  route: UpstreamRoute;
  capability: Capability;
  provider: string;
}

function forward(
  hooks: ProxyHooks,
  audit: number,
  req: IncomingMessage,
  res: ServerResponse,
  { url, route, capability, provider }: Forwarding,
): void {
  const headers = upstreamHeaders(req.headers, route, [...hooks.capabilities.secrets()]);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  let status = 0;
  let bytes = 0;
  let logged = false;
  const log = (): void => {
    if (logged) return;
    logged = true;
    const line = {
      time: new Date().toISOString(),
      child: capability.child,
      pid: capability.pid,
      provider,
      method: req.method,
      host: url.host,
      path: url.pathname,
      status,
      bytes,
    };
    writeSync(audit, `${JSON.stringify(line)}\n`);
  };
  // The child's Host is not used: the request names the upstream itself, which sets its own Host.
  const upstream = send(url, { method: req.method, headers, timeout: ANSWER_TIMEOUT_MS });
  let sent = 0;
  req.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (sent > MAX_REQUEST_BYTES) {
      upstream.destroy();
      status = 413;
      refuse(res, 413, `request bodies over ${MAX_REQUEST_BYTES} bytes are not forwarded`);
      log();
    }
  });
  req.pipe(upstream);
  upstream.on('timeout', () => upstream.destroy(new Error('timeout')));
  upstream.on('error', () => {
    if (!res.headersSent) {
      status = 502;
      refuse(res, 502, `${url.host} did not answer`);
    } else res.destroy();
    log();
  });
  upstream.on('response', (answer) => {
    status = answer.statusCode ?? 502;
    // Bytes pass as they are, so Content-Encoding and Content-Length stay true to the body.
    res.writeHead(status, responseHeaders(answer.headers));
    answer.setTimeout(IDLE_TIMEOUT_MS, () => answer.destroy());
    answer.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_RESPONSE_BYTES) {
        answer.destroy();
        res.destroy();
      }
    });
    answer.pipe(res);
    answer.on('end', log);
    answer.on('close', () => {
      if (!answer.complete) res.destroy();
      log();
    });
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
}

/** The child's headers minus hop-by-hop ones and anything carrying a capability, plus the real key. */
function upstreamHeaders(incoming: IncomingHttpHeaders, route: UpstreamRoute, secrets: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === route.header.name.toLowerCase()) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (secrets.some((secret) => text.includes(secret))) continue;
    headers[name] = value;
  }
  headers[route.header.name.toLowerCase()] = route.header.scheme ? `${route.header.scheme} ${route.key}` : route.key;
  return headers;
}

function responseHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  return headers;
}

function refuse(res: ServerResponse, status: number, reason: string): void {
  if (res.headersSent) return void res.destroy();
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ error: { type: 'loginkit_agent', message: `loginkit agent: ${reason}` } }));
}
