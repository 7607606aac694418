const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** True for the hosts that never leave this machine: 127.0.0.1, [::1] and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/**
 * Why `value` is not acceptable as a server endpoint, or undefined when it is: it must be an absolute
 * https URL, or http on a loopback host (local servers and tests).
 */
export function endpointProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a URL: "${value}"`;
  }
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return `must use https (http is allowed only on 127.0.0.1, [::1] or localhost): "${value}"`;
}

/** Why `value` cannot be a loopback redirect URI (http, loopback host, a path, no query or fragment), or undefined. */
export function redirectUriProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a URL: "${value}"`;
  }
  if (url.protocol !== 'http:' || !isLoopbackHost(url.hostname)) {
    return `must be http on 127.0.0.1, [::1] or localhost (a loopback redirect, RFC 8252): "${value}"`;
  }
  if (url.search || url.hash) return `must not have a query or fragment: "${value}"`;
  if (url.pathname === '/' || url.pathname === '') return `needs a path such as /callback: "${value}"`;
  return undefined;
}
