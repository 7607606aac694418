// The store survives what real machines do to it: writers killed with SIGKILL at any moment, a disk that
// fills up in the middle of a write, and several processes writing at once. (A dead writer's lock:
// stale-lock.test.ts; unreadable stores: corrupt-store.test.ts.)
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { startHttpServer } from '../helpers/stand-in.js';
import { mountTmpfs } from '../helpers/tmpfs.js';
import { sequenceOf, sequencedEntry } from './store-writer.js';
import { type Writer, buildWriter, lastAnnounced, temporaryFiles, untilTemporaryFile } from './writer-process.js';
import { STORE, readBody, readStoredEntries, seedStore, sendJson, sleep, tokenResponse } from './support.js';

let writers: Awaited<ReturnType<typeof buildWriter>>;
before(async () => {
  writers = await buildWriter();
});
after(async () => {
  await writers.dispose();
});
const startWriter = (args: string[], wrapper?: string[]): Writer => writers.start(args, wrapper);

/** The store's entries as a fresh reader (a new process) sees them. */
const readFresh = (path: string) => createFileStore(path, plaintextCodec).read();

describe('a write that fails or stops midway leaves the old store whole', () => {
  test('a write that runs out of space midway (ENOSPC on a full tmpfs): the old store stays byte for byte, readable, with no temporary file', async () => {
    const disk = await mountTmpfs('256k');
    try {
      const home = join(disk.dir, 'home');
      await mkdir(home, { mode: 0o700 });
      const path = join(home, STORE);
      const store = createFileStore(path, plaintextCodec);
      await store.update(() => ({ 'p0/default': sequencedEntry('p0', 1, 4) }));
      const old = await readFile(path);

      // Fill the disk, then free two pages: the next write gets 8 KiB into its 64 KiB and fails.
      const filler = join(disk.dir, 'filler');
      await assert.rejects(writeFile(filler, Buffer.alloc(512 * 1024)), { code: 'ENOSPC' });
      await truncate(filler, (await stat(filler)).size - 8 * 1024);
      await assert.rejects(
        store.update((entries) => ({ ...entries, 'p1/default': sequencedEntry('p1', 1, 64) })),
        (error: unknown) => error instanceof StorageError && /^Cannot write .*credentials\.json: ENOSPC/.test(error.message),
      );

      assert.deepEqual(await readFile(path), old, 'the old store is byte for byte as it was');
      assert.equal(sequenceOf('p0', (await readFresh(path))['p0/default'], 4), 1, 'and reads whole');
      assert.deepEqual(
        (await readdir(home)).filter((name) => name !== 'locks'),
        [STORE],
        'the partial temporary file was removed',
      );

      await rm(filler);
      await store.update((entries) => ({ ...entries, 'p1/default': sequencedEntry('p1', 1, 64) }));
      assert.deepEqual(Object.keys(await readFresh(path)).sort(), ['p0/default', 'p1/default'], 'writes work again once there is room');
    } finally {
      await disk.dispose();
    }
  });

  test('a writer killed between write and rename (strace kills it at its rename): the old store stays whole; the next writer cleans up', async () => {
    const home = await makeHome();
    const path = join(home, STORE);
    await createFileStore(path, plaintextCodec).update(() => ({ 'p0/default': sequencedEntry('p0', 1, 256) }));
    const old = await readFile(path);
    const go = join(home, 'go');
    await writeFile(go, '');
    const killAtRename = [
      'strace',
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      'trace=rename,renameat,renameat2',
      '-e',
      'inject=rename,renameat,renameat2:signal=SIGKILL',
    ];
    const writer = startWriter(['once', path, 'p1', go], killAtRename);
    assert.equal(await writer.exited, null, `killed at its rename, not exited:\n${writer.output()}`);

    assert.deepEqual(await readFile(path), old, 'the old store is byte for byte as it was');
    assert.deepEqual(Object.keys(await readFresh(path)), ['p0/default']);
    const [temporary, ...others] = await temporaryFiles(home);
    assert.ok(temporary && others.length === 0, 'the killed writer left its one, complete, temporary file');
    assert.equal((await stat(join(home, temporary))).mode & 0o777, 0o600);
    const written = JSON.parse(await readFile(join(home, temporary), 'utf8')) as { entries: Record<string, unknown> };
    assert.deepEqual(Object.keys(written.entries).sort(), ['p0/default', 'p1/default'], 'it was killed after writing in full');

    // The dead writer's lock would be taken over once stale (see stale-lock.test.ts); skip that wait here.
    await rm(join(home, 'locks'), { recursive: true, force: true });
    await createFileStore(path, plaintextCodec).update((entries) => ({ ...entries, 'p2/default': sequencedEntry('p2', 1, 4) }));
    assert.deepEqual(Object.keys(await readFresh(path)).sort(), ['p0/default', 'p2/default']);
    assert.deepEqual(await temporaryFiles(home), [], "the next writer removed the dead writer's temporary file");
    await rm(home, { recursive: true, force: true });
  });
});

describe('SIGKILL in the middle of writing', () => {
  const KILLS = 30;
  const KEYS = 4;
  const KIB = 64;

  test(`${KILLS} writers killed at random moments: the store always reads, old state or new, never torn`, async (t) => {
    const home = await makeHome();
    const path = join(home, STORE);
    let previous = 0;
    let killedMidWrite = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      const writer = startWriter(['loop', path, String(KEYS), String(KIB)]);
      // Kill it while it is rewriting the 256 KiB file in a loop: every other time at a random moment, else as
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
    // This only says the random kills were not all harmless; that a write stopped midway leaves the old
    // store whole is checked deterministically above (ENOSPC, a kill at the rename).
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
