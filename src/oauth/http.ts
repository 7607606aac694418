import { NetworkError } from '../errors.js';
import type { Environment } from '../home.js';

/** A Fetch API function; loginkit's default goes through `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Default bound on every network call. */
export const DEFAULT_TIMEOUT_MS = 30_000;

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
 * host. With `bound: 'headers'` only the wait for the response headers is bounded (for streamed API
 * responses); by default the whole exchange is.
 */
export function createHttp(options: {
  fetch?: FetchLike | undefined;
  env: Environment;
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
    try {
      const response = await doFetch(url, { ...init, signal });
      if (options.bound === 'headers') clearTimeout(timer);
      return response;
    } catch (error) {
      clearTimeout(timer);
      if (init.signal?.aborted) throw init.signal.reason ?? error;
      throw toNetworkError(url, error, timeout.signal.aborted, options.timeoutMs, options.fetch ? undefined : proxyFor(url, options.env));
    }
  };
}

/** The proxy (host:port) a request to `url` goes through under `env`, or undefined when none applies. */
function proxyFor(url: URL, env: Environment): string | undefined {
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
function proxySetting(env: Environment, name: string): string | undefined {
  return env[name] || env[name.toLowerCase()] || undefined;
}

function usesProxy(env: Environment): boolean {
  return proxySetting(env, 'HTTP_PROXY') !== undefined || proxySetting(env, 'HTTPS_PROXY') !== undefined;
}

async function proxiedFetch(env: Environment): Promise<FetchLike> {
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
  const code = errorCode(error);
  if (code && TLS_CODES.has(code)) {
    return new NetworkError(
      'network',
      host,
      `TLS to ${host} failed (${code}).\nIf a proxy or company CA intercepts HTTPS, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem (and HTTPS_PROXY if a proxy is needed).`,
      { cause: error, transient: false },
    );
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

function errorCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) current = errors[0];
    else current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
