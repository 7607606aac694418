import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A running loopback HTTP server. */
export interface HttpServerHandle {
  /** Origin of the server, e.g. 'http://127.0.0.1:41234' (no trailing slash). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a real HTTP server on 127.0.0.1 (port 0) that answers every request with `handler`. */
export async function startHttpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpServerHandle> {
  const server = createServer(handler);
  const port = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) };
}

/** Makes `server` listen on 127.0.0.1 on a free port and returns the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on a TCP port');
  return address.port;
}

/** A loopback port nothing listens on: bound (port 0), then closed, so connecting is refused. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Stops `server` and drops its open connections, so the test process can exit. */
export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
