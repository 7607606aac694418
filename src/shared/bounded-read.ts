import { LoginkitError } from '../errors.js';

/**
 * The cap for a key, token or secret read from stdin. Real ones are well under 4 KiB (API keys ~200 bytes,
 * JWTs and pasted callback URLs a few KiB); 64 KiB leaves room for any of them and bounds the memory a
 * mistaken `loginkit login … --with-api-key < big-file` can take.
 */
export const STDIN_SECRET_MAX_BYTES = 64 * 1024;

/**
 * Reads `stream` to its end as UTF-8 text, at most `maxBytes` of it. More than that is refused with a
 * LoginkitError (code `usage`) naming `what` (say, "The API key on stdin"), and reading stops at the first
 * chunk past the cap: the stream is released (a Readable is destroyed), so whatever pipes gigabytes into it
 * gets EPIPE instead of filling loginkit's memory. Text that is not UTF-8 is refused the same way.
 */
export async function readBoundedText(stream: AsyncIterable<Uint8Array | string>, maxBytes: number, what: string): Promise<string> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a whole number of bytes, not ${maxBytes}`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop early (the throw) calls the iterator's return(): that is what stops the reading.
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    total += bytes.byteLength;
    if (total > maxBytes) throw tooLong(what, maxBytes);
    chunks.push(bytes);
  }
  return decodeUtf8(Buffer.concat(chunks), what);
}

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new LoginkitError('usage', `${what} is not UTF-8 text.\nPipe in just the key or secret itself.`);
  } finally {
    // Our own copy of a secret: no need to leave it in memory for the garbage collector.
    bytes.fill(0);
  }
}

function tooLong(what: string, maxBytes: number): LoginkitError {
  return new LoginkitError(
    'usage',
    `${what} is longer than ${describeSize(maxBytes)}, more than any key or secret; loginkit stopped reading it there.\nPipe in just the key or secret itself, not a file or a stream.`,
  );
}

function describeSize(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
