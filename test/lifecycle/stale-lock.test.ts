// A writer killed with SIGKILL while it holds the store's write lock: readers are not held up at all, and
// the next writer takes the lock over once it is stale instead of waiting forever.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { STORE, sleep } from './support.js';
import { buildWriter } from './writer-process.js';

let writer: Awaited<ReturnType<typeof buildWriter>>;
before(async () => {
  writer = await buildWriter();
});
after(async () => {
  await writer.dispose();
});

/** Starts loop writers until one is killed while holding the write lock (it holds it nearly all the time). */
async function killWhileHoldingTheLock(path: string, lock: string): Promise<void> {
  for (let attempt = 1; attempt <= 10; attempt++) {
    const loop = writer.start(['loop', path, '1', '256']);
    await loop.waitFor(/^wrote \d+$/m);
    while (!existsSync(lock)) await sleep(1);
    loop.child.kill('SIGKILL');
    await loop.exited;
    if (existsSync(lock)) return;
  }
  throw new Error('never managed to kill a writer while it held the lock');
}

test('a writer killed while holding the lock: reads go on at once, the next write takes the stale lock over', async () => {
  const home = await makeHome();
  const path = join(home, STORE);
  const lock = join(home, 'locks', 'store-write.lock');
  await killWhileHoldingTheLock(path, lock);

  // Reading takes no lock: `status` and `token` (on a valid token) answer at once.
  const reads = Date.now();
  const status = await runCli(['status', '--json'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /"id": "p0"/);
  const token = await runCli(['token', 'p0'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.code, 0, token.stderr);
  assert.match(token.stdout, /^at-\d+-p0\n$/);
  assert.ok(Date.now() - reads < 5_000, `reads were not held up (${Date.now() - reads} ms)`);

  const go = join(home, 'go');
  await writeFile(go, '');
  const started = Date.now();
  const next = writer.start(['once', path, 'late', go]);
  await next.waitFor(/^done$/m);
  const waited = Date.now() - started;
  // proper-lockfile calls a lock stale 10 s after its holder last touched it (loginkit's setting).
  assert.ok(waited > 5_000, `the lock was not simply ignored (${waited} ms)`);
  assert.ok(waited < 20_000, `took the stale lock over within 20 s (${waited} ms)`);
  const entries = await createFileStore(path, plaintextCodec).read();
  assert.ok(entries['late/default'], 'the new entry is there');
  assert.ok(entries['p0/default'], 'the old entry is kept');
});
