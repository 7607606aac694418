import { existsSync, readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './loopback-server.js';
import { type EndpointAnswer, writeAnswer } from './proxy.js';

// A listener on 127.0.0.1 for one brokered child, for a cloud endpoint whose SDK takes only a host:port and
// sends nothing secret (Google's metadata server): the listener stands for the child's capability, and is
// closed, its connections ended, when that capability ends. On Linux it also answers only processes of the
// agent's own user (the owner of the connecting socket, from /proc/net/tcp), as the agent's socket does.

/** Longest request line and headers (a metadata request has no body). */
const HEADERS_TIMEOUT_MS = 10_000;

/** The running listener. */
export interface ChildListener {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

/** Starts a listener on 127.0.0.1 (any free port) that answers every request with `answer`. */
export async function startChildListener(answer: (request: IncomingMessage) => Promise<EndpointAnswer>): Promise<ChildListener> {
  const server: Server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS }, (req, res) => {
    if (!sameUser(req.socket)) {
      return writeAnswer(res, { status: 403, body: { message: "loginkit agent: only the agent's own user is answered" } });
    }
    void answer(req)
      .catch((): EndpointAnswer => ({ status: 503, body: { message: 'loginkit agent: no credentials' } }))
      .then((made) => writeAnswer(res, made));
  });
  return listenOnLoopback(server);
}

const PROC_NET_TCP = '/proc/net/tcp';

/** Whether the connecting socket belongs to this process's user (true where /proc/net/tcp does not exist). */
function sameUser(socket: Socket): boolean {
  if (!existsSync(PROC_NET_TCP) || typeof process.getuid !== 'function') return true;
  const owner = socketOwner(readFileSync(PROC_NET_TCP, 'utf8'), socket.remotePort ?? 0, socket.localPort ?? 0);
  return owner === process.getuid();
}

/** The uid owning the loopback socket from `clientPort` to `serverPort` in /proc/net/tcp's text, if listed. */
function socketOwner(procNetTcp: string, clientPort: number, serverPort: number): number | undefined {
  const end = (port: number): string => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of procNetTcp.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === end(clientPort) && fields[2] === end(serverPort)) return Number(fields[7]);
  }
  return undefined;
}
