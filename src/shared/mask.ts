/** Secrets shorter than this show no prefix at all. */
const SHORT_SECRET = 12;
const PREFIX_LENGTH = 6;
const SUFFIX_LENGTH = 4;
const SHORT_SUFFIX_LENGTH = 2;

/**
 * A secret as it may be shown: a short prefix and the last 4 characters (`sk-pro…b3Xy`); for secrets
 * under 12 characters only `…` and the last 2. Never more than a third of the secret in total, so a
 * short key cannot be mostly revealed.
 */
export function maskSecret(secret: string): string {
  const chars = Array.from(secret); // code points, so a mask never splits a surrogate pair
  const budget = Math.floor(chars.length / 3);
  if (chars.length < SHORT_SECRET) {
    const suffix = Math.min(SHORT_SUFFIX_LENGTH, budget);
    return `…${suffix > 0 ? chars.slice(-suffix).join('') : ''}`;
  }
  const prefix = Math.min(PREFIX_LENGTH, budget - SUFFIX_LENGTH);
  return `${chars.slice(0, prefix).join('')}…${chars.slice(-SUFFIX_LENGTH).join('')}`;
}

/**
 * Query parameters that carry a secret: `password` (pg, ioredis and libpq take it from the query), libpq's
 * `sslpassword`, ioredis's `sentinelPassword`, and look-alikes (`pass`, `passwd`, `pwd`, `…secret…`,
 * `…token…`, `auth`). Matched case-insensitively on the whole name, so that a new spelling errs on the
 * side of masking.
 */
const SECRET_QUERY_PARAMETER = /pass|pwd|secret|token|^auth$|credential/i;

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** The secrets a URL carries: the password of `user:password@`, and the values of password-like query parameters. */
export function urlSecrets(text: string): string[] {
  const url = parseUrl(text);
  if (!url) return [];
  const secrets = [...url.searchParams]
    .filter(([name, value]) => SECRET_QUERY_PARAMETER.test(name) && value !== '')
    .map(([, value]) => value);
  if (url.password) secrets.push(decodeOrKeep(url.password));
  return secrets;
}

/** Whether `text` is a URL that carries a password (in `user:password@` or a query parameter). */
export function urlCarriesSecret(text: string): boolean {
  return urlSecrets(text).length > 0;
}

/**
 * A URL for display: a user name and password in it are replaced by `***`, and so is the value of every
 * password-like query parameter (`?password=`, `?sslpassword=`, …); text that is no URL is shown as is.
 */
export function maskUrlCredentials(text: string): string {
  const url = parseUrl(text);
  if (!url) return text;
  const secretNames = [...url.searchParams.keys()].filter((name) => SECRET_QUERY_PARAMETER.test(name));
  if (!url.username && !url.password && secretNames.length === 0) return text;
  if (url.username || url.password) {
    url.username = '***';
    url.password = '';
  }
  for (const name of new Set(secretNames)) url.searchParams.set(name, '***');
  return url.href;
}

function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
