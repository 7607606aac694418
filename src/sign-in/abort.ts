import { interrupted } from '../errors.js';
import type { ServerConnection } from '../oauth/server.js';

/** A promise that rejects with the signal's reason (as an `interrupted` error) once it fires. */
export function abortion(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void => reject(interrupted(signal));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/** `connection` with every request also ended by `signal`, so that Ctrl-C stops a request in flight. */
export function abortableConnection(connection: ServerConnection, signal: AbortSignal | undefined): ServerConnection {
  if (!signal) return connection;
  const { http } = connection;
  return {
    ...connection,
    http: (input, init = {}) => http(input, { ...init, signal: init.signal ? AbortSignal.any([init.signal, signal]) : signal }),
  };
}
