import { LoginkitError, NetworkError, ResponseTooLargeError, causeChain } from '../errors.js';
import { describeSystemError } from '../shared/errno.js';
import type { EnvVars } from '../shared/home.js';

/** A Fetch API function; loginkit's default goes through `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Default bound on every network call. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The most loginkit reads of one response body from an authorization server (discovery, token, device and
 * revocation endpoints) or a key check: 256 KiB. Real ones send a few KiB (a discovery document with every
 * optional field, a token response with a large ID token); anything beyond is a hostile or broken server,
 * and reading stops there with a {@link ResponseTooLargeError}.
 */
export const MAX_RESPONSE_BODY_BYTES = 256 * 1024;

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/**
 * Wraps `base` (by default Node's fetch, or undici's with an `EnvHttpProxyAgent` when `env` names a proxy)
 * so that every request is bounded by `timeoutMs` and every failure becomes a NetworkError that names the
 * host. By default the whole exchange is bounded: the body too must arrive within `timeoutMs` (a stalled
 * body fails as a `timeout`), and reading it stops at {@link MAX_RESPONSE_BODY_BYTES}. With
 * `bound: 'headers'` (streamed API responses) only the wait for the response headers is bounded.
 */
export function createHttp(options: {
  fetch?: FetchLike | undefined;
  env: EnvVars;
  timeoutMs: number;
  bound?: 'request' | 'headers';
}): FetchLike {
  let proxied: Promise<FetchLike> | undefined;
  const base = (): Promise<FetchLike> => {
    if (options.fetch) return Promise.resolve(options.fetch);
    // Without proxy settings, Node's own fetch does the same as undici's with an EnvHttpProxyAgent, and
    // loading the undici package costs a refresh more than its round trip to a local server.
    proxied ??= usesProxy(options.env) ? proxiedFetch(options.env) : Promise.resolve(globalThis.fetch);
    return proxied;
  };
  return async (input, init = {}) => {
    const url = new URL(String(input));
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException('timed out', 'TimeoutError')), options.timeoutMs);
    timer.unref();
    const signal = init.signal ? AbortSignal.any([init.signal, timeout.signal]) : timeout.signal;
    const doFetch = await base();
    const failure = (error: unknown): unknown => {
      if (init.signal?.aborted) return init.signal.reason ?? error;
      return toNetworkError(url, error, timeout.signal.aborted, options.timeoutMs, options.fetch ? undefined : proxyFor(url, options.env));
    };
    let response: Response;
    try {
      response = await doFetch(url, { ...init, signal });
    } catch (error) {
      clearTimeout(timer);
      throw failure(error);
    }
    if (options.bound === 'headers') {
      clearTimeout(timer);
      return response;
    }
    return withBoundedBody(response, {
      limitBytes: MAX_RESPONSE_BODY_BYTES,
      tooLarge: () => new ResponseTooLargeError(url.host, MAX_RESPONSE_BODY_BYTES),
      failure,
      settled: () => clearTimeout(timer),
    });
  };
}

/** Why reading a response's body failed, for answers whose read error the OAuth library swallows (see translate-error.ts). */
const bodyFailures = new WeakMap<Response, LoginkitError>();

/** The error that ended reading `response`'s body (too large, timed out, connection lost), if one did. */
export function bodyReadFailure(response: Response): LoginkitError | undefined {
  return bodyFailures.get(response);
}

interface BodyBounds {
  limitBytes: number;
  tooLarge: () => Error;
  /** Turns a read error of the underlying body into the error to surface. */
  failure: (error: unknown) => unknown;
  /** Called once the body has been read, has failed or was cancelled. */
  settled: () => void;
}

/**
 * `response` with a body that fails once more than `limitBytes` arrive (at once when Content-Length says
 * so), cancelling the underlying body so the connection is dropped rather than drained. Nothing is read
 * until the caller reads, so a caller that only looks at the status still costs nothing.
 */
function withBoundedBody(response: Response, bounds: BodyBounds): Response {
  const source = response.body;
  if (!source) {
    bounds.settled();
    return response;
  }
  const reader = source.getReader();
  const declared = Number(response.headers.get('content-length') ?? 0);
  let received = 0;
  let bounded: Response | undefined;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown): void => {
    bounds.settled();
    if (bounded && error instanceof LoginkitError) bodyFailures.set(bounded, error);
    controller.error(error);
    reader.cancel(error).catch(() => undefined);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (declared > bounds.limitBytes) return fail(controller, bounds.tooLarge());
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        return fail(controller, bounds.failure(error));
      }
      if (chunk.done) {
        bounds.settled();
        return controller.close();
      }
      received += chunk.value.byteLength;
      if (received > bounds.limitBytes) return fail(controller, bounds.tooLarge());
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      bounds.settled();
      return reader.cancel(reason);
    },
  });
  bounded = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  return bounded;
}

/** The proxy (host:port) a request to `url` goes through under `env`, or undefined when none applies. */
function proxyFor(url: URL, env: EnvVars): string | undefined {
  // As undici's EnvHttpProxyAgent routes: https:// through HTTPS_PROXY, else through HTTP_PROXY.
  const httpProxy = proxySetting(env, 'HTTP_PROXY');
  const proxy = url.protocol === 'https:' ? (proxySetting(env, 'HTTPS_PROXY') ?? httpProxy) : httpProxy;
  if (!proxy) return undefined;
  const bypass = (proxySetting(env, 'NO_PROXY') ?? '').split(/[\s,]+/).filter(Boolean);
  const matches = (entry: string): boolean => {
    if (entry === '*') return true;
    const [name, port] = entry.replace(/^\*?\./, '.').split(':');
    if (port && port !== (url.port || (url.protocol === 'https:' ? '443' : '80'))) return false;
    return name === url.hostname || (name?.startsWith('.') === true && url.hostname.endsWith(name));
  };
  if (bypass.some(matches)) return undefined;
  try {
    return new URL(proxy).host;
  } catch {
    return proxy;
  }
}

/** A proxy variable, upper-case spelling first; empty counts as unset. */
function proxySetting(env: EnvVars, name: string): string | undefined {
  return env[name] || env[name.toLowerCase()] || undefined;
}

function usesProxy(env: EnvVars): boolean {
  return proxySetting(env, 'HTTP_PROXY') !== undefined || proxySetting(env, 'HTTPS_PROXY') !== undefined;
}

async function proxiedFetch(env: EnvVars): Promise<FetchLike> {
  const { fetch, EnvHttpProxyAgent } = await import('undici');
  // Every setting is given, '' for none: the agent would otherwise read process.env, not the client's env.
  const dispatcher = new EnvHttpProxyAgent({
    httpProxy: proxySetting(env, 'HTTP_PROXY') ?? '',
    httpsProxy: proxySetting(env, 'HTTPS_PROXY') ?? '',
    noProxy: proxySetting(env, 'NO_PROXY') ?? '',
  });
  return (input, init) => fetch(String(input), { ...(init as Parameters<typeof fetch>[1]), dispatcher }) as unknown as Promise<Response>;
}

/** Describes a failed request in one line that names the host and, for TLS problems, the settings that fix them. */
export function toNetworkError(url: URL, error: unknown, timedOut: boolean, timeoutMs: number, proxy?: string): NetworkError {
  const host = url.host;
  if (timedOut || (error instanceof Error && error.name === 'TimeoutError')) {
    return new NetworkError('timeout', host, `${host} did not answer within ${Math.round(timeoutMs / 1000)} s.`, {
      cause: error,
    });
  }
  const code = errorCodeInChain(error);
  if (code && TLS_CODES.has(code)) {
    return new NetworkError(
      'network',
      host,
      `TLS to ${host} failed (${code}).\nIf a proxy or company CA intercepts HTTPS, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem (and HTTPS_PROXY if a proxy is needed).`,
      { cause: error, transient: false },
    );
  }
  if (code === 'EMFILE' || code === 'ENFILE') {
    return new NetworkError('network', host, `Cannot connect to ${host}: ${describeSystemError(code)}.`, { cause: error });
  }
  const reason = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : (code ?? 'request failed');
  if (proxy) {
    return new NetworkError(
      'network',
      host,
      `Cannot reach ${host} through the proxy ${proxy} (${reason}). Check the proxy, or list the host in NO_PROXY.`,
      {
        cause: error,
      },
    );
  }
  return new NetworkError('network', host, `Cannot reach ${host} (${reason}). Check your connection or proxy settings (HTTPS_PROXY).`, {
    cause: error,
  });
}

/** The first system error code among `error`'s causes (undici's generic socket code is not one). */
function errorCodeInChain(error: unknown): string | undefined {
  for (const current of causeChain(error, 5)) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  return undefined;
}
