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

/** A URL for display: a user name and password in it are replaced by `***`; text that is no URL is shown as is. */
export function maskUrlCredentials(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (!url.username && !url.password) return text;
  url.username = '***';
  url.password = '';
  return url.href;
}
