// A writer killed with SIGKILL while it holds the store's write lock: readers are not held up at all, and
// the next writer takes the lock over once it is stale instead of waiting forever.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { STORE, sleep } from './support.js';
import { buildWriter } from './writer-process.js';

/** When loginkit's store lock goes stale without its holder's heartbeat (src/store/locks.ts). */
const STALE_AFTER_MS = 10_000;
/** How long the test lets the next writer wait on a live-looking lock before it goes stale. */
const STALE_SOON_MS = 1_500;

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
  const held = await stat(lock);

  // Reading takes no lock: `status` and `token` (on a valid token) answer while the dead writer's lock is there,
  // without waiting for it to go stale and without taking it over (which would remove or touch it).
  const status = await runCli(['status', '--json'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /"id": "p0"/);
  const token = await runCli(['token', 'p0'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.code, 0, token.stderr);
  assert.match(token.stdout, /^at-\d+-p0\n$/);
  assert.equal((await stat(lock)).mtimeMs, held.mtimeMs, 'the reads left the lock alone: they never waited for it');

  const go = join(home, 'go');
  const next = writer.start(['once', path, 'late', go]);
  await next.waitFor(/^ready$/m);
  // Age the dead writer's lock so that it goes stale in a moment rather than after the full 10 s.
  const staleAt = Date.now() + STALE_SOON_MS;
  const touched = new Date(staleAt - STALE_AFTER_MS);
  await utimes(lock, touched, touched);
  await writeFile(go, '');
  await next.waitFor(/^done$/m);
  // proper-lockfile calls a lock stale 10 s after its holder last touched it (loginkit's setting).
  assert.ok(
    Date.now() >= staleAt,
    `the lock was not simply ignored: the write waited until it was stale (${staleAt - Date.now()} ms early)`,
  );
  const entries = await createFileStore(path, plaintextCodec).read();
  assert.ok(entries['late/default'], 'the new entry is there');
  assert.ok(entries['p0/default'], 'the old entry is kept');
});
