// The shared store on real PostgreSQL and Redis servers: init, status with the password masked, many
// machines (own homes, config.json only) reading one store, concurrent writers, and bad input.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createLoginkit } from '../../src/index.js';
import { type PostgresServer, type RedisServer, databasesMissing, startPostgres, startRedis } from '../helpers/databases.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { fleetEnv, initWithNewKey, machineHome, seedSharedToken, sharedStore } from './support.js';

const missing = databasesMissing();
const PG_PASSWORD = 'pg-Secret-pass-4417';
const REDIS_PASSWORD = 'redis-Secret-pass-9921';

interface Backend {
  name: 'postgres' | 'redis';
  url(): string;
  /** The same server with a wrong password in the URL. */
  wrongPasswordUrl(): string;
  password: string;
}

const backends: Backend[] = [];
let postgres: PostgresServer | undefined;
let redis: RedisServer | undefined;

before(async () => {
  if (missing) return;
  postgres = await startPostgres({ password: PG_PASSWORD });
  redis = await startRedis({ password: REDIS_PASSWORD });
});
after(async () => {
  postgres?.close();
  await redis?.close();
});

function backend(name: 'postgres' | 'redis'): Backend {
  if (name === 'postgres') {
    return {
      name,
      password: PG_PASSWORD,
      url: () => postgres?.url() ?? '',
      wrongPasswordUrl: () => (postgres?.url() ?? '').replace(encodeURIComponent(PG_PASSWORD), 'not-the-password'),
    };
  }
  return {
    name,
    password: REDIS_PASSWORD,
    url: () => redis?.url() ?? '',
    wrongPasswordUrl: () => (redis?.url() ?? '').replace(encodeURIComponent(REDIS_PASSWORD), 'not-the-password'),
  };
}
backends.push(backend('postgres'), backend('redis'));

/** A database of the server that only the close() test uses, so that other tests' clients are not counted. */
function ownDatabaseUrl(db: Backend): string {
  if (db.name === 'redis') return db.url().replace(/\/0$/, `/${CLOSE_CHECK_REDIS_DB}`);
  if (postgres?.sql(`SELECT count(*) FROM pg_database WHERE datname = '${CLOSE_CHECK_DATABASE}'`) === '0') {
    postgres.sql(`CREATE DATABASE ${CLOSE_CHECK_DATABASE} OWNER loginkit`);
  }
  return postgres?.url('127.0.0.1', CLOSE_CHECK_DATABASE) ?? '';
}
const CLOSE_CHECK_DATABASE = 'closecheck';
const CLOSE_CHECK_REDIS_DB = 7;

/** How many connections are open to the close() test's own database. */
async function loginkitConnections(db: Backend): Promise<number> {
  if (db.name === 'postgres') {
    return Number(postgres?.sql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${CLOSE_CHECK_DATABASE}'`));
  }
  const admin = new Redis(db.url());
  try {
    const clients = String(await admin.client('LIST'))
      .trim()
      .split('\n');
    return clients.filter((line) => line.includes(` db=${CLOSE_CHECK_REDIS_DB} `)).length;
  } finally {
    admin.disconnect();
  }
}

/** The number of connections once it reaches `expected`, or after 2 s: a server drops a session a moment after its client leaves. */
async function connectionsSettleAt(db: Backend, expected: number): Promise<number> {
  let count = await loginkitConnections(db);
  for (let attempt = 0; attempt < 100 && count !== expected; attempt++) {
    await setTimeout(20);
    count = await loginkitConnections(db);
  }
  return count;
}

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `a secret was printed:\n${text}`);
}

for (const db of backends) {
  describe(`shared store on ${db.name}`, { skip: missing }, () => {
    let key = '';

    test('store init makes a data key once, is idempotent, and never prints the password', async () => {
      key = await initWithNewKey(db.url());
      const home = await makeHome();
      const again = await runCli(['store', 'init'], { home, env: fleetEnv(db.url(), key) });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /already initialised/);
      const newKey = await runCli(['store', 'init', '--generate-key'], { home, env: { LOGINKIT_STORE: db.url() } });
      assert.equal(newKey.code, 1);
      assert.match(newKey.stderr, /already initialised with data key [0-9a-f]{16}; nothing was changed/);
      assert.equal(newKey.stdout, '');
      const status = await runCli(['store', 'status'], { home, env: fleetEnv(db.url(), key) });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`Credential store: ${db.name}://\\*\\*\\*@127\\.0\\.0\\.1:\\d+`));
      assert.match(status.stdout, /protection: encrypted \(data key\)/);
      for (const result of [again, newKey, status]) assertNoSecret(result.stdout + result.stderr, db.password, key);
    });

    test('machines with homes of their own (config.json only) read the credential another one stored; status masks the password', async () => {
      const writer = sharedStore(fleetEnv(db.url(), key));
      await seedSharedToken(writer, 'demo', `shared-${db.name}-token`);
      for (let machine = 0; machine < 3; machine++) {
        const home = await machineHome(db.url());
        const run = await runCli(['token', 'demo'], { home, env: { LOGINKIT_DATA_KEY: key } });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `shared-${db.name}-token\n`);
        const status = await runCli(['status', 'demo'], { home, env: { LOGINKIT_DATA_KEY: key } });
        assert.match(status.stdout, new RegExp(`stored in ${db.name}://\\*\\*\\*@127\\.0\\.0\\.1:\\d+\\S* \\(encrypted \\(data key\\)\\)`));
        assertNoSecret(status.stdout + status.stderr, db.password, key);
      }
    });

    test('the database never holds plaintext', async () => {
      const store = sharedStore(fleetEnv(db.url(), key));
      await seedSharedToken(store, 'plain-check', 'very-recognisable-access-token');
      if (db.name === 'postgres') {
        const dump = postgres?.sql('SELECT string_agg(key || data, chr(10)) FROM loginkit_store') ?? '';
        assert.match(dump, /loginkit-encrypted-store/);
        assert.ok(!dump.includes('very-recognisable-access-token'));
      }
    });

    test('concurrent writers from separate clients lose nothing: a write whose version moved on is retried on the new value', async () => {
      const env = fleetEnv(db.url(), key);
      const stores = [sharedStore(env), sharedStore(env), sharedStore(env)];
      await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (stores[i % stores.length] ?? stores[0])?.update((entries) => ({ ...entries, [`race:${i}`]: i })),
        ),
      );
      const entries = await sharedStore(env).read({ fresh: true });
      for (let i = 0; i < 24; i++) assert.equal(entries[`race:${i}`], i, `entry ${i} survived`);
    });

    test('exec: the program gets the credential, and none of the store password, data key, key command, passphrase or database passwords', async () => {
      const home = await machineHome(db.url(), { id: 'demo', issuer: 'https://auth.example.com', clientId: 'loginkit-test' });
      const seen = join(home, 'child-env.json');
      const result = await runCli(
        [
          'exec',
          'demo',
          '--',
          process.execPath,
          '-e',
          `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.env))`,
        ],
        {
          home,
          env: {
            ...fleetEnv(db.url(), key),
            LOGINKIT_DATA_KEY_COMMAND: `echo ${key}`,
            LOGINKIT_PASSPHRASE: 'never-for-children',
            PGPASSWORD: db.password,
            PGPASSFILE: '/run/secrets/pgpass',
            REDISCLI_AUTH: db.password,
          },
        },
      );
      assert.equal(result.code, 0, result.stderr);
      const childEnv = JSON.parse(await readFile(seen, 'utf8')) as Record<string, string>;
      assert.ok(Object.values(childEnv).includes(`shared-${db.name}-token`), 'the credential is in the child environment');
      const unlocking = ['LOGINKIT_STORE', 'LOGINKIT_DATA_KEY', 'LOGINKIT_DATA_KEY_COMMAND', 'LOGINKIT_PASSPHRASE'];
      for (const name of [...unlocking, 'PGPASSWORD', 'PGPASSFILE', 'REDISCLI_AUTH']) {
        assert.equal(childEnv[name], undefined, `${name} reached the child`);
      }
      assertNoSecret(JSON.stringify(childEnv), db.password, key, 'never-for-children');
    });

    test('close() releases the connections an embedding process opened; a CLI run leaves none open', async () => {
      const url = ownDatabaseUrl(db);
      const ownKey = await initWithNewKey(url);
      const seeder = sharedStore(fleetEnv(url, ownKey));
      await seedSharedToken(seeder, 'demo', 'close-check-token');
      await seeder.close?.();
      assert.equal(await connectionsSettleAt(db, 0), 0, 'store init (a CLI run) and the closed store left no connection open');
      const kit = createLoginkit({ home: await machineHome(url), env: { LOGINKIT_DATA_KEY: ownKey }, onWarning: () => undefined });
      assert.equal(await kit.getToken('demo'), 'close-check-token');
      assert.ok((await loginkitConnections(db)) > 0, 'the client holds a connection before close()');
      await kit.close();
      assert.equal(await connectionsSettleAt(db, 0), 0, 'no connection is left after close()');
    });

    test('bad input: each a clear error naming the fix, no secret printed, nothing overwritten', async () => {
      const home = await makeHome();
      const cases: Array<{ env: Record<string, string>; pattern: RegExp; args?: string[] }> = [
        { env: fleetEnv(`${db.name}://user:pw@[bad`, key), pattern: /LOGINKIT_STORE is not a valid URL/ },
        { env: fleetEnv(db.wrongPasswordUrl(), key), pattern: /refused the user name or password; nothing was changed/ },
        { env: fleetEnv(db.url(), Buffer.alloc(32, 7).toString('base64')), pattern: /is not the key for the shared store/ },
        { env: fleetEnv(db.url(), 'short'), pattern: /LOGINKIT_DATA_KEY is not the base64 of 32 bytes/ },
        {
          env: { LOGINKIT_STORE: db.url() },
          pattern:
            /encrypted with a data key, and none was given[^\n]*\.\nSet LOGINKIT_DATA_KEY .*, or save the key in this machine's keychain: loginkit store init --keychain/,
        },
        { env: fleetEnv(db.url().replace(/:\d+\//, ':1/'), key), pattern: /cannot be reached/ },
      ];
      for (const { env, pattern, args } of cases) {
        const result = await runCli(args ?? ['token', 'demo'], { home, env });
        assert.equal(result.code, 1, `${pattern}: ${result.stderr}`);
        assert.match(result.stderr, pattern);
        assert.ok(result.stderr.trim().split('\n').length <= 2, `one or two lines:\n${result.stderr}`);
        assertNoSecret(result.stdout + result.stderr, db.password, 'not-the-password', key);
      }
      const still = await runCli(['token', 'demo'], { home, env: fleetEnv(db.url(), key) });
      assert.equal(still.stdout, `shared-${db.name}-token\n`, 'nothing was overwritten');
    });
  });
}

describe('shared store: other key sources', { skip: missing }, () => {
  test('the data key from LOGINKIT_DATA_KEY_COMMAND (without loginkit variables in its environment), or a passphrase', async () => {
    const url = (redis?.url() ?? '').replace(/\/0$/, '/3');
    const key = await initWithNewKey(url);
    const dir = await makeHome();
    const keyFile = join(dir, 'data-key');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'from-command');
    const home = await machineHome(url);
    const viaCommand = await runCli(['token', 'demo'], {
      home,
      env: { LOGINKIT_DATA_KEY_COMMAND: `test -z "$LOGINKIT_STORE" && cat ${keyFile}` },
    });
    assert.equal(viaCommand.code, 0, viaCommand.stderr);
    assert.equal(viaCommand.stdout, 'from-command\n');
    const failing = await runCli(['token', 'demo'], { home, env: { LOGINKIT_DATA_KEY_COMMAND: 'exit 3' } });
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /LOGINKIT_DATA_KEY_COMMAND failed \(exit 3\)/);

    const passphraseUrl = (redis?.url() ?? '').replace(/\/0$/, '/4');
    const init = await runCli(['store', 'init'], { home, env: { LOGINKIT_STORE: passphraseUrl, LOGINKIT_PASSPHRASE: 'fleet passphrase' } });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stderr, /encrypted \(passphrase\)/);
    const env = { LOGINKIT_STORE: passphraseUrl, LOGINKIT_PASSPHRASE: 'fleet passphrase' };
    await seedSharedToken(sharedStore(env), 'demo', 'from-passphrase');
    const read = await runCli(['token', 'demo'], { home, env });
    assert.equal(read.stdout, 'from-passphrase\n', read.stderr);
    const wrong = await runCli(['token', 'demo'], { home, env: { ...env, LOGINKIT_PASSPHRASE: 'not it' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Wrong passphrase for the shared store/);
  });
});

describe('shared store: schema and records on PostgreSQL', { skip: missing }, () => {
  test('a missing table, a newer schema and a record written by another key are refused without writing', async () => {
    const home = await makeHome();
    const url = postgres?.url('127.0.0.1', 'fresh') ?? '';
    postgres?.sql('CREATE DATABASE fresh');
    const notInitialised = await runCli(['token', 'demo'], { home, env: fleetEnv(url, Buffer.alloc(32, 1).toString('base64')) });
    assert.equal(notInitialised.code, 1);
    assert.match(notInitialised.stderr, /is not initialised\.\nCreate it: loginkit store init/);

    const key = await initWithNewKey(url);
    const store = sharedStore(fleetEnv(url, key));
    await seedSharedToken(store, 'demo', 'kept-token');

    // A record sealed with another key, copied in from a second store.
    const otherUrl = postgres?.url('127.0.0.1', 'other') ?? '';
    postgres?.sql('CREATE DATABASE other');
    const otherKey = await initWithNewKey(otherUrl);
    await seedSharedToken(sharedStore(fleetEnv(otherUrl, otherKey)), 'intruder', 'foreign-token');
    const foreign = postgres?.sqlOn('other', "SELECT data FROM loginkit_store WHERE key <> '~meta'") ?? '';
    postgres?.sqlOn('fresh', `INSERT INTO loginkit_store (key, version, data) VALUES ('r.intruder', 1, '${foreign}')`);
    const refused = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /record "r\.intruder"\) was encrypted with another data key/);
    const before = postgres?.sqlOn('fresh', "SELECT string_agg(key || version || data, ',' ORDER BY key) FROM loginkit_store");
    await assert.rejects(store.update((entries) => ({ ...entries, extra: 1 })));
    assert.equal(postgres?.sqlOn('fresh', "SELECT string_agg(key || version || data, ',' ORDER BY key) FROM loginkit_store"), before);
    postgres?.sqlOn('fresh', "DELETE FROM loginkit_store WHERE key = 'r.intruder'");

    postgres?.sqlOn(
      'fresh',
      `UPDATE loginkit_store SET data = replace(data, '"schemaVersion":2', '"schemaVersion":3') WHERE key = '~meta'`,
    );
    const newer = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
    assert.equal(newer.code, 1);
    assert.match(newer.stderr, /has schema version 3, newer than this loginkit understands \(2\); nothing was changed\.\nUpgrade loginkit/);
    const init = await runCli(['store', 'init'], { home, env: fleetEnv(url, key) });
    assert.equal(init.code, 1, 'init does not overwrite a newer schema');
  });
});
