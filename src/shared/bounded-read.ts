import { type Stats, closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { LoginkitError, StorageError } from '../errors.js';
import { sanitizePath } from './printable.js';

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

/** A file read by {@link readRegularFileSync}: its bytes, and the stats of the open file they came from. */
export interface RegularFileRead {
  bytes: Buffer;
  stats: Stats;
}

/**
 * Reads the regular file at `path` (a symlink leads to the file it names), at most `maxBytes` of it. The open
 * does not block (a FIFO would wait forever for a writer), and anything but a regular file — a device such
 * as `/dev/zero`, a FIFO, a socket, a folder — is refused from the open descriptor's stats before a byte is
 * read; a file over `maxBytes` is refused too. Both with a StorageError naming `path`; a failed open
 * (ENOENT, EACCES) throws the system error, for the caller to tell a missing file from an unreadable one.
 */
export function readRegularFileSync(path: string, maxBytes: number): RegularFileRead {
  // Windows has neither flag (and no FIFOs at a path): 0 leaves the open as it was.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  try {
    const stats = fstatSync(fd);
    const shown = sanitizePath(path);
    if (!stats.isFile()) throw new StorageError(path, `${shown} is ${fileKind(stats)}, not a regular file, so loginkit will not read it.`);
    if (stats.size > maxBytes) throw tooLarge(path, shown, maxBytes);
    // The file may grow after the fstat: read on until the end, one byte past the cap at most.
    let buffer = Buffer.alloc(Math.min(stats.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw tooLarge(path, shown, maxBytes);
        buffer = Buffer.concat([buffer, Buffer.alloc(Math.min(buffer.length, maxBytes + 1 - buffer.length))]);
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    return { bytes: buffer.subarray(0, length), stats };
  } finally {
    closeSync(fd);
  }
}

function tooLarge(path: string, shown: string, maxBytes: number): StorageError {
  return new StorageError(path, `${shown} is larger than ${describeSize(maxBytes)}, so loginkit will not read it.`);
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'a special file';
}
