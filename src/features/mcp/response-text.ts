import { sanitizeServerText } from '../../errors.js';

/** `text` parsed as JSON, or undefined when it is not JSON. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `: error – description` from an OAuth error body, sanitized for the terminal; empty when there is none. */
export function describeError(text: string): string {
  const body = safeJson(text) as { error?: unknown; error_description?: unknown } | undefined;
  const error = typeof body?.error === 'string' ? body.error : undefined;
  const description = typeof body?.error_description === 'string' ? body.error_description : undefined;
  return error ? `: ${sanitizeServerText(error, 60)}${description ? ` – ${sanitizeServerText(description, 200)}` : ''}` : '';
}
