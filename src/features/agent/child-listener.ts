import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { type EndpointAnswer, writeAnswer } from './proxy.js';

// A listener on 127.0.0.1 for one brokered child, for a cloud endpoint whose SDK takes only a host:port and
// sends nothing secret (Google's metadata server): the listener stands for the child's capability, and is
// closed, its connections ended, when that capability ends.

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
    void answer(req)
      .catch((): EndpointAnswer => ({ status: 503, body: { message: 'loginkit agent: no credentials' } }))
      .then((made) => writeAnswer(res, made));
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
