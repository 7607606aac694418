import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { closeServer, listenOnLoopback } from './stand-in.js';

/** A running forward proxy. */
export interface ForwardProxy {
  /** e.g. 'http://127.0.0.1:41234', for HTTPS_PROXY / ProxyAgent. */
  url: string;
  /** What the proxy was asked for, in order: 'GET http://127.0.0.1:123/path' or 'CONNECT host:port'. */
  seen: string[];
  /**
   * Plain-HTTP requests sent inside CONNECT tunnels, in order: 'POST 127.0.0.1:123/token'. (undici's
   * ProxyAgent tunnels http:// requests too, so `seen` alone shows only the CONNECT.)
   */
  tunnelled: string[];
  close(): Promise<void>;
}

// Headers addressed to the proxy itself or to one hop of the connection.
const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Starts a real HTTP forward proxy on 127.0.0.1: absolute-form requests are forwarded, CONNECT is tunnelled. */
export async function startProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const tunnelled: string[] = [];
  const tunnels = new Set<Socket | Duplex>();
  const server = createServer((req, res) => forwardAbsoluteFormRequest(req, res, seen));
  server.on('connect', (req: IncomingMessage, clientSocket: Duplex, head: Buffer) => {
    tunnel(req, clientSocket, head, seen, tunnels);
    recordTunnelledRequests(req.url ?? '', clientSocket, head, tunnelled);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    tunnelled,
    close: async () => {
      for (const socket of tunnels) socket.destroy();
      await closeServer(server);
    },
  };
}

function forwardAbsoluteFormRequest(req: IncomingMessage, res: ServerResponse, seen: string[]): void {
  const target = URL.parse(req.url ?? '');
  if (target === null || target.protocol !== 'http:') {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('this proxy forwards absolute-form http:// requests only\n');
    return;
  }
  seen.push(`${req.method ?? 'GET'} ${target.href}`);
  const upstream = httpRequest(target, { method: req.method, headers: endToEndHeaders(req) }, (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, endToEndHeaders(upstreamRes));
    upstreamRes.pipe(res);
  });
  upstream.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`proxy could not reach ${target.host}: ${error.message}\n`);
  });
  req.pipe(upstream);
}

function endToEndHeaders(message: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name)) headers[name] = value;
  }
  return headers;
}

function tunnel(req: IncomingMessage, clientSocket: Duplex, head: Buffer, seen: string[], tunnels: Set<Socket | Duplex>): void {
  const authority = req.url ?? '';
  seen.push(`CONNECT ${authority}`);
  const { hostname, port } = splitAuthority(authority);
  const upstream = connect(port, hostname, () => {
    clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(clientSocket);
    clientSocket.pipe(upstream);
  });
  for (const socket of [clientSocket, upstream]) {
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
  }
  upstream.on('error', () => {
    clientSocket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  clientSocket.on('error', () => upstream.destroy());
}

const REQUEST_LINE = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/;

// Reads the request lines of plain HTTP/1.1 going through a tunnel; TLS bytes never match. Requests on a
// kept-alive connection start at a chunk boundary, since a client sends the next one only after an answer.
// Listening puts the socket in flowing mode early, which loses nothing: the client sends no byte before the
// proxy's 200, and that is written just as the tunnel's pipes are set up.
function recordTunnelledRequests(authority: string, clientSocket: Duplex, head: Buffer, tunnelled: string[]): void {
  const record = (chunk: Buffer): void => {
    const match = REQUEST_LINE.exec(chunk.subarray(0, 2048).toString('latin1'));
    if (match) tunnelled.push(`${match[1]} ${authority}${match[2]}`);
  };
  if (head.length > 0) record(head);
  clientSocket.on('data', record);
}

function splitAuthority(authority: string): { hostname: string; port: number } {
  const parsed = URL.parse(`http://${authority}`);
  if (parsed === null) return { hostname: authority, port: 443 };
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { hostname, port: parsed.port === '' ? 443 : Number(parsed.port) };
}
