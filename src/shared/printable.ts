import { sanitizeServerText } from '../errors.js';

/**
 * A path (or any name from the file system) made safe to print: the same stripping of control and bidi
 * characters as server text, so that a folder named with an escape sequence cannot drive the terminal;
 * never shortened.
 */
export function sanitizePath(path: string): string {
  return sanitizeServerText(path, Number.MAX_SAFE_INTEGER);
}
