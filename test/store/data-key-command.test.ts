// LOGINKIT_DATA_KEY_COMMAND, the shared store's data key from a command: what it must not be given, and
// bounds that hold when it forks. Checked directly on the key lookup: no database is needed.
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { keyFingerprint } from '../../src/store/encrypted-codec.js';
import { findSharedKey } from '../../src/store/shared-keys.js';
import { SHARED_SCHEMA_VERSION } from '../../src/store/shared-store.js';
import { processGone } from '../helpers/processes.js';

describe('the data key command (LOGINKIT_DATA_KEY_COMMAND)', () => {
  const dataKey = Buffer.alloc(32, 7);
  const meta = { schemaVersion: SHARED_SCHEMA_VERSION, protection: 'data-key' as const, keyId: keyFingerprint(dataKey) };

  test('gets neither the passphrase, nor a store URL carrying a password, nor its own variable, nor database passwords', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-datakey-env-'));
    const seen = join(dir, 'env.json');
    const command = `node -e 'require("fs").writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.env))' && echo ${dataKey.toString('base64')}`;
    const secrets = {
      LOGINKIT_PASSPHRASE: 'store passphrase',
      LOGINKIT_STORE: 'postgres://fleet@db.example/fleet?password=in-the-query',
      LOGINKIT_DATA_KEY_COMMAND: command,
      PGPASSWORD: 'pg-password',
      PGPASSFILE: '/run/secrets/pgpass',
      REDISCLI_AUTH: 'redis-password',
    };
    const found = await findSharedKey(meta, {
      env: { ...secrets, PATH: process.env.PATH, KEEP_ME: 'yes' },
      location: 'postgres://***@db/fleet',
    });
    assert.ok(found.key.equals(dataKey));
    const env = JSON.parse(await readFile(seen, 'utf8')) as Record<string, string>;
    assert.equal(env.KEEP_ME, 'yes', 'the rest of the environment is inherited');
    for (const name of Object.keys(secrets)) assert.equal(env[name], undefined, `${name} reached the data key command`);
  });

  test(
    'a command that forks ends within seconds: output cap, and a background child left holding the pipe',
    { timeout: 20_000 },
    async () => {
      const options = (command: string) => ({
        env: { PATH: process.env.PATH, LOGINKIT_DATA_KEY_COMMAND: command },
        location: 'redis://db/0',
      });
      const dir = await mkdtemp(join(tmpdir(), 'loginkit-datakey-fork-'));
      let started = Date.now();
      await assert.rejects(
        findSharedKey(meta, options(`yes AAAA & echo $! > ${dir}/yes.pid; wait`)),
        /LOGINKIT_DATA_KEY_COMMAND printed more than 4096 bytes/,
      );
      assert.ok(Date.now() - started < 5_000, 'the cap ended it');
      assert.ok(await processGone(join(dir, 'yes.pid')), 'the forked `yes` was killed with its group');
      started = Date.now();
      const found = await findSharedKey(meta, options(`echo ${dataKey.toString('base64')}; sleep 30 & echo $! > ${dir}/sleep.pid`));
      assert.ok(found.key.equals(dataKey));
      assert.ok(Date.now() - started < 5_000, 'not waiting for the background child');
      assert.ok(await processGone(join(dir, 'sleep.pid')), 'the background child holding the pipe was killed');
    },
  );
});
