// A store that is corrupt or from a newer loginkit is never silently replaced: every command fails with an
// error naming the file, and the file stays byte for byte as it was (also when a sign-in completes on top).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createLoginkit, StorageError } from '../../src/index.js';
import { signInOverHttp } from '../helpers/person.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { STORE, credentialEntry, lines, storeBytes } from './support.js';

describe('a store loginkit cannot read is never replaced', () => {
  const PROVIDER = 'demo';
  const fixture = useSignInServer();

  const valid = storeBytes({
    [`${PROVIDER}/default`]: credentialEntry({
      provider: PROVIDER,
      tokenEndpoint: 'http://127.0.0.1:9/token',
      accessToken: 'secret-at',
      refreshToken: 'secret-rt',
      expiresInMs: 3_600_000,
    }),
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
    const { server } = fixture;
    const home = await makeHome();
    const path = join(home, STORE);
    const bytes = Buffer.from(valid.replace('"version": 1', '"version": 2'));
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, openBrowser: async (url) => void (await signInOverHttp(url)) });
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
