// Keys and secrets read from stdin are capped: a 200 MB stdin is refused after the cap, not read whole.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoginkitError, StorageError } from '../../src/errors.js';
import { STDIN_SECRET_MAX_BYTES, readBoundedText, readRegularFileSync } from '../../src/shared/bounded-read.js';

const WHAT = 'The API key on stdin';

/** Asserts a LoginkitError with code `usage` whose message matches `pattern`. */
function isUsageError(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof LoginkitError, String(error));
    assert.equal(error.code, 'usage');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('readBoundedText', () => {
  test('text within the cap comes back whole, across chunks, with a character split between two chunks', async () => {
    const bytes = Buffer.from('sk-clé-🔑\n', 'utf8');
    const split = bytes.indexOf(0xa9); // the second byte of "é"
    const chunks = [bytes.subarray(0, split), bytes.subarray(split, split + 3), bytes.subarray(split + 3)];
    assert.equal(await readBoundedText(Readable.from(chunks), 64, WHAT), 'sk-clé-🔑\n');
    assert.equal(await readBoundedText(Readable.from([]), 64, WHAT), '');
    assert.deepEqual(Buffer.concat(chunks), bytes, "the caller's buffers are left as they were");
  });

  test('exactly maxBytes is accepted; one byte more is refused with code usage, naming what was read', async () => {
    assert.equal(await readBoundedText(Readable.from([Buffer.alloc(10, 'a')]), 10, WHAT), 'a'.repeat(10));
    await assert.rejects(
      readBoundedText(Readable.from([Buffer.alloc(10, 'a'), Buffer.from('b')]), 10, WHAT),
      isUsageError(
        /^The API key on stdin is longer than 10 bytes, more than any key or secret; loginkit stopped reading it there\.\nPipe in just the key or secret itself, not a file or a stream\.$/,
      ),
    );
  });

  test('string chunks are counted in UTF-8 bytes, not characters', async () => {
    // Four characters, eight bytes.
    await assert.rejects(readBoundedText(Readable.from(['éééé']), 7, WHAT), isUsageError(/longer than 7 bytes/));
    assert.equal(await readBoundedText(Readable.from(['éééé']), 8, WHAT), 'éééé');
  });

  test('a 1 MiB stream: reading stops at the first chunk past the cap and the stream is released', async () => {
    let pulled = 0;
    let released = false;
    async function* mebibyte(): AsyncGenerator<Uint8Array> {
      try {
        for (let kib = 0; kib < 1024; kib++) {
          pulled++;
          yield Buffer.alloc(1024, 'x');
        }
      } finally {
        released = true;
      }
    }
    await assert.rejects(readBoundedText(mebibyte(), STDIN_SECRET_MAX_BYTES, WHAT), isUsageError(/longer than 64 KiB/));
    assert.equal(pulled, STDIN_SECRET_MAX_BYTES / 1024 + 1, 'not one chunk more than needed to see the cap passed');
    assert.ok(released, 'the stream was closed');
  });

  test('a 200 MB stdin (login --with-api-key) is refused after 64 KiB instead of being read whole: the writer gets EPIPE', async () => {
    // A real pipe from a real process, as `head -c 200M /dev/zero | loginkit login … --with-api-key` makes.
    const writer = spawn('head', ['-c', String(200 * 1024 * 1024), '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      writer.on('close', (code, signal) => resolve({ code, signal })),
    );
    let read = 0;
    writer.stdout.on('data', (chunk: Buffer) => {
      read += chunk.length;
    });
    await assert.rejects(readBoundedText(writer.stdout, STDIN_SECRET_MAX_BYTES, WHAT), isUsageError(/longer than 64 KiB/));
    const { code, signal } = await ended;
    assert.ok(
      signal === 'SIGPIPE' || (code !== null && code !== 0),
      `the writer was cut off (code ${code}, signal ${signal}), it did not write 200 MB`,
    );
    assert.ok(writer.stdout.destroyed, 'the pipe was released');
    assert.ok(read <= STDIN_SECRET_MAX_BYTES + 64 * 1024, `read ${read} bytes: the cap and at most one more chunk`);
  });

  test('bytes that are not UTF-8 are refused with code usage', async () => {
    await assert.rejects(
      readBoundedText(Readable.from([Buffer.from([0x73, 0x6b, 0xff])]), 64, WHAT),
      isUsageError(/^The API key on stdin is not UTF-8 text\./),
    );
  });

  test('a cap that is not a whole number of bytes is a programming error', async () => {
    await assert.rejects(readBoundedText(Readable.from([]), -1, WHAT), RangeError);
    await assert.rejects(readBoundedText(Readable.from([]), 1.5, WHAT), RangeError);
  });
});

// Files loginkit reads from the working directory are attacker input: a link to a device must not be read at
// all, and a file past the cap not whole. (A FIFO, which would block this test process, is tried in a CLI
// process with a time limit: test/hostile/project-files.test.ts.)
describe('readRegularFileSync', () => {
  test('a regular file, also through a symlink, comes back whole with the stats of the file read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-read-'));
    await writeFile(join(dir, 'rule.json'), '{"profile": "oss"}');
    await symlink(join(dir, 'rule.json'), join(dir, 'link.json'));
    const { bytes, stats } = readRegularFileSync(join(dir, 'link.json'), 64);
    assert.equal(bytes.toString('utf8'), '{"profile": "oss"}');
    assert.ok(stats.isFile());
    assert.throws(() => readRegularFileSync(join(dir, 'missing.json'), 64), { code: 'ENOENT' });
  });

  test('a link to /dev/zero is refused before a byte is read; a file past the cap is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-read-'));
    await symlink('/dev/zero', join(dir, 'zero.json'));
    assert.throws(
      () => readRegularFileSync(join(dir, 'zero.json'), 1024 * 1024 * 1024),
      (error: unknown) => {
        assert.ok(error instanceof StorageError);
        assert.match(error.message, /zero\.json is a device, not a regular file, so loginkit will not read it\./);
        return true;
      },
    );
    await writeFile(join(dir, 'big.json'), Buffer.alloc(65));
    assert.throws(
      () => readRegularFileSync(join(dir, 'big.json'), 64),
      /big\.json is larger than 64 bytes, so loginkit will not read it\./,
    );
    assert.equal(readRegularFileSync(join(dir, 'big.json'), 65).bytes.length, 65);
  });
});
