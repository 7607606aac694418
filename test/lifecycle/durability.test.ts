// The store survives what real machines do to it: writers killed with SIGKILL at any moment, and several
// processes writing at once. (A dead writer's lock: stale-lock.test.ts; unreadable stores: corrupt-store.test.ts.)
import assert from 'node:assert/strict';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { startHttpServer } from '../helpers/stand-in.js';
import { sequenceOf } from './store-writer.js';
import { type Writer, buildWriter, lastAnnounced, temporaryFiles, untilTemporaryFile } from './writer-process.js';
import { STORE, readBody, readStoredEntries, seedStore, sendJson, sleep, tokenResponse } from './support.js';

let writers: Awaited<ReturnType<typeof buildWriter>>;
before(async () => {
  writers = await buildWriter();
});
after(async () => {
  await writers.dispose();
});
const startWriter = (args: string[]): Writer => writers.start(args);

describe('SIGKILL in the middle of writing', () => {
  const KILLS = 30;
  const KEYS = 4;
  const KIB = 256;

  test(`${KILLS} writers killed at random moments: the store always reads, old state or new, never torn`, async (t) => {
    const home = await makeHome();
    const path = join(home, STORE);
    let previous = 0;
    let killedMidWrite = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      const writer = startWriter(['loop', path, String(KEYS), String(KIB)]);
      // Kill it while it is rewriting the ~1 MB file in a loop: every other time at a random moment, else as
      // soon as its temporary file appears (inside the write, before the rename).
      await writer.waitFor(/^wrote \d+$/m);
      if (kill % 2 === 1) await sleep(Math.floor(Math.random() * 100));
      // Each writer's first update removed the orphans of writers killed before it.
      else await untilTemporaryFile(home, 0);
      writer.child.kill('SIGKILL');
      assert.equal(await writer.exited, null, 'killed, not exited');
      const announced = lastAnnounced(writer.output());

      // A fresh reader (as a new process would be) gets a whole store.
      const entries = await createFileStore(path, plaintextCodec).read();
      const seqs = Array.from({ length: KEYS }, (_, i) => sequenceOf(`p${i}`, entries[`p${i}/default`], KIB));
      assert.equal(new Set(seqs).size, 1, `one update's state, not a mix: ${seqs.join(',')}`);
      const seq = seqs[0] ?? 0;
      assert.ok(seq >= announced, `an update that resolved (${announced}) is on disk (found ${seq})`);
      assert.ok(seq >= previous, `never goes back (${previous} → ${seq})`);
      assert.ok(seq <= announced + 1, `at most the one write in flight is extra (${announced} → ${seq})`);
      previous = seq;

      // The killed writer may leave its own temporary file behind (private), never more: orphans of earlier
      // writers are removed by the next writer under the write lock.
      const temporaries = await temporaryFiles(home);
      assert.ok(temporaries.length <= 1, `kill ${kill}: ${temporaries.length} temporary files`);
      killedMidWrite += temporaries.length;
      for (const name of temporaries) assert.equal((await stat(join(home, name))).mode & 0o777, 0o600, `${name} is private`);
      assert.equal((await stat(path)).mode & 0o777, 0o600);

      // The dead writer's lock would be taken over once stale (10 s, see stale-lock.test.ts); skip that wait here.
      await rm(join(home, 'locks'), { recursive: true, force: true });
    }
    assert.ok(previous >= KILLS, `the writers made progress (${previous} writes)`);
    // Most kills land inside a write (the writer is writing almost all the time): the test hit the window.
    assert.ok(killedMidWrite > 0, 'some writer was killed between creating its temporary file and the rename');
    t.diagnostic(`${previous} writes, ${killedMidWrite} of ${KILLS} writers killed inside a write`);

    // The CLI reads the survivor and is not confused by leftover temporary files.
    const run = await runCli(['token', 'p0'], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `at-${previous}-p0\n`);
  });
});

describe('concurrent writers', () => {
  test('8 processes each store a different provider at the same moment: all 8 are there', async () => {
    const home = await makeHome();
    const path = join(home, STORE);
    await seedStore(home, [
      { provider: 'existing', tokenEndpoint: 'http://127.0.0.1:9/token', accessToken: 'keep-me', expiresInMs: 3_600_000 },
    ]);
    const go = join(home, 'go');
    const writers = Array.from({ length: 8 }, (_, i) => startWriter(['once', path, `p${i}`, go]));
    await Promise.all(writers.map((w) => w.waitFor(/^ready$/m)));
    await writeFile(go, '');
    await Promise.all(writers.map((w) => w.waitFor(/^done$/m)));
    assert.deepEqual(await Promise.all(writers.map((w) => w.exited)), Array(8).fill(0));

    const entries = await readStoredEntries(home);
    assert.deepEqual(Object.keys(entries).sort(), ['existing/default', ...Array.from({ length: 8 }, (_, i) => `p${i}/default`)].sort());
    assert.equal(entries['existing/default']?.accessToken, 'keep-me');
    assert.deepEqual(await temporaryFiles(home), [], 'no temporary file left by writers that finished');
  });

  test('8 `loginkit token` processes refreshing 8 providers, answers released at once: all 8 refreshes are kept', async () => {
    const home = await makeHome();
    const providers = Array.from({ length: 8 }, (_, i) => `p${i}`);
    // The token endpoint holds every answer until all 8 refreshes have arrived, so the 8 writes coincide.
    const held: Array<() => void> = [];
    const server = await startHttpServer((req, res) => {
      void readBody(req).then((body) => {
        const refreshToken = new URLSearchParams(body).get('refresh_token') ?? '';
        const provider = refreshToken.replace(/^old-rt-/, '');
        held.push(() => sendJson(res, 200, tokenResponse(`new-at-${provider}`, `new-rt-${provider}`)));
        if (held.length === providers.length) for (const answer of held) answer();
      });
    });
    try {
      await seedStore(
        home,
        providers.map((p) => ({
          provider: p,
          tokenEndpoint: `${server.url}/token`,
          accessToken: `old-at-${p}`,
          refreshToken: `old-rt-${p}`,
          expiresInMs: -60_000,
        })),
      );
      // Processes: what is tested is separate processes writing one store at the same moment.
      const runs = await Promise.all(
        providers.map((p) => runCliProcess(['token', p], { home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 30_000 })),
      );
      runs.forEach((run, i) => {
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `new-at-p${i}\n`);
      });
      const entries = await readStoredEntries(home);
      for (const p of providers) {
        assert.equal(entries[`${p}/default`]?.accessToken, `new-at-${p}`, `${p}'s refresh was not lost`);
        assert.equal(entries[`${p}/default`]?.refreshToken, `new-rt-${p}`);
      }
    } finally {
      await server.close();
    }
  });
});
