// The store survives what real machines do to it: writers killed with SIGKILL at any moment, several
// processes writing at once, and files that are corrupt or from a newer loginkit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLoginkit, StorageError } from '../../src/index.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { closeBrowser, signInWithBrowser } from '../helpers/browser.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { startHttpServer } from '../helpers/stand-in.js';
import { sequenceOf } from './store-writer.js';
import { type Writer, buildWriter, lastAnnounced, temporaryFiles, untilTemporaryFile } from './writer-process.js';
import { STORE, credentialEntry, lines, readBody, readStoredEntries, seedStore, sendJson, sleep, storeBytes, tokenResponse } from './support.js';

let writer: Awaited<ReturnType<typeof buildWriter>>;
before(async () => {
  writer = await buildWriter();
});
after(async () => {
  await writer.dispose();
});
const startWriter = (args: string[]): Writer => writer.start(args);

describe('SIGKILL in the middle of writing', () => {
  const KILLS = 30;
  const KEYS = 4;
  const KIB = 256;

  test(`${KILLS} writers killed at random moments: the store always reads, old state or new, never torn`, async (t) => {
    const home = await makeHome();
    const path = join(home, STORE);
    let previous = 0;
    let leftovers = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      const writer = startWriter(['loop', path, String(KEYS), String(KIB)]);
      // Kill it while it is rewriting the ~1 MB file in a loop: every other time at a random moment, else as
      // soon as its temporary file appears (inside the write, before the rename).
      await writer.waitFor(/^wrote \d+$/m);
      if (kill % 2 === 1) await sleep(Math.floor(Math.random() * 100));
      else await untilTemporaryFile(home, leftovers);
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

      // The killed writer may leave its temporary file behind, but no more than that, and private.
      const temporaries = await temporaryFiles(home);
      assert.ok(temporaries.length <= leftovers + 1, `kill ${kill}: ${temporaries.length} temporary files after ${leftovers}`);
      leftovers = temporaries.length;
      for (const name of temporaries) assert.equal((await stat(join(home, name))).mode & 0o777, 0o600, `${name} is private`);
      assert.equal((await stat(path)).mode & 0o777, 0o600);

      // The dead writer's lock would be taken over once stale (10 s, see stale-lock.test.ts); skip that wait here.
      await rm(join(home, 'locks'), { recursive: true, force: true });
    }
    assert.ok(previous >= KILLS, `the writers made progress (${previous} writes)`);
    // Most kills land inside a write (the writer is writing almost all the time): the test hit the window.
    assert.ok(leftovers > 0, 'some writer was killed between creating its temporary file and the rename');
    t.diagnostic(`${previous} writes, ${leftovers} temporary files left by ${KILLS} killed writers`);

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
    await seedStore(home, [{ provider: 'existing', tokenEndpoint: 'http://127.0.0.1:9/token', accessToken: 'keep-me', expiresInMs: 3_600_000 }]);
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
        providers.map((p) => ({ provider: p, tokenEndpoint: `${server.url}/token`, accessToken: `old-at-${p}`, refreshToken: `old-rt-${p}`, expiresInMs: -60_000 })),
      );
      const runs = await Promise.all(providers.map((p) => runCli(['token', p], { home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 30_000 })));
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

describe('a store loginkit cannot read is never replaced', () => {
  const PROVIDER = 'demo';
  let server: AuthServer | undefined;
  after(async () => {
    await server?.close();
    await closeBrowser();
  });

  const valid = storeBytes({
    [`${PROVIDER}/default`]: credentialEntry({ provider: PROVIDER, tokenEndpoint: 'http://127.0.0.1:9/token', accessToken: 'secret-at', refreshToken: 'secret-rt', expiresInMs: 3_600_000 }),
  });
  const cases: Array<[string, Buffer, RegExp]> = [
    ['garbage bytes', randomBytes(4096), /not valid JSON|truncated/],
    ['a truncated file', Buffer.from(valid.slice(0, Math.floor(valid.length / 2))), /not valid JSON|truncated/],
    ['an unknown future version', Buffer.from(valid.replace('"version": 1', '"version": 7')), /version 7.*newer|Upgrade loginkit/s],
    ['JSON that is not a store', Buffer.from('{"hello": "world"}\n'), /shape/],
  ];
  const commands = [['token', PROVIDER], ['status'], ['status', PROVIDER], ['logout', PROVIDER], ['logout', '--all']];

  for (const [what, bytes, why] of cases) {
    test(`${what}: every command fails naming the file, which stays byte for byte the same`, async () => {
      const home = await makeHome();
      const path = join(home, STORE);
      await writeFile(path, bytes, { mode: 0o600 });
      const before = await stat(path);

      const runs = await Promise.all(commands.map((args) => runCli(args, { home, env: { LOGINKIT_STORE: 'file' } })));
      runs.forEach((run, i) => {
        const command = commands[i]?.join(' ');
        assert.equal(run.code, 1, `${command}: ${run.stderr}`);
        assert.ok(run.stderr.includes(path), `${command} names the file: ${run.stderr}`);
        assert.match(run.stderr, why, `${command} says what is wrong`);
        assert.ok(lines(run.stderr).length <= 3, `${command}: a short message:\n${run.stderr}`);
        assert.doesNotMatch(run.stdout + run.stderr, /secret-at|secret-rt/);
      });
      assert.deepEqual(await readFile(path), bytes, 'byte for byte unchanged');
      const afterwards = await stat(path);
      assert.equal(afterwards.mtimeMs, before.mtimeMs);
      assert.equal(afterwards.ino, before.ino, 'not replaced by another file');
      assert.deepEqual((await readdir(home)).filter((name) => name !== 'locks').sort(), [STORE], 'no copies, no temporary files');
    });
  }

  test('a sign-in that completes over a corrupt store fails naming the file and leaves it unchanged', async () => {
    server = await startAuthServer();
    const home = await makeHome();
    const path = join(home, STORE);
    const bytes = Buffer.from(valid.replace('"version": 1', '"version": 2'));
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, openBrowser: async (url) => void (await signInWithBrowser(url)) });
    await kit.addProvider(PROVIDER, { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
    await writeFile(path, bytes, { mode: 0o600 });

    await assert.rejects(kit.login(PROVIDER), (error: unknown) => {
      assert.ok(error instanceof StorageError, String(error));
      assert.equal(error.path, path);
      assert.ok(error.message.includes(path));
      return true;
    });
    assert.deepEqual(await readFile(path), bytes);
  });
});
