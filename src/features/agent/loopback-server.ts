import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** A server listening on 127.0.0.1: its origin, and a close that ends its open connections too. */
export interface LoopbackServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** Listens with `server` on 127.0.0.1 (any free port), keeping track of connections so that close ends them at once. */
export async function listenOnLoopback(server: Server): Promise<LoopbackServer> {
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
