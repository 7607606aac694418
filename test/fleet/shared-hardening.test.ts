// Shared stores attacked from the database side and from the neighbours: record ids that name nobody, a
// record copied onto another person's row, lost updates, a lock that is not exclusive or that an old holder
// deletes, a password in the URL's query string. (The data key command: test/store/data-key-command.test.ts.)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { EntryStore } from '../../src/store/entry-store.js';
import { SHARED_SCHEMA_VERSION } from '../../src/store/shared-store.js';
import { runCli } from '../helpers/cli.js';
import { type PostgresServer, type RedisServer, databasesMissing, startPostgres, startRedis } from '../helpers/databases.js';
import { fleetEnv, initWithNewKey, machineHome, seedSharedToken, sharedStore } from './support.js';

const missing = databasesMissing();
const PG_PASSWORD = 'pg-Hardening-pass-5150';
const REDIS_PASSWORD = 'redis-Hardening-pass-6160';
const ENTRIES_KEY = 'loginkit:entries';

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

let databases = 0;
/** A store of its own on `backend`: a new PostgreSQL database, or the next Redis database number. */
function freshUrl(backend: 'postgres' | 'redis'): string {
  databases += 1;
  if (backend === 'redis') return (redis?.url() ?? '').replace(/\/0$/, `/${databases}`);
  postgres?.sql(`CREATE DATABASE hardening${databases}`);
  return postgres?.url('127.0.0.1', `hardening${databases}`) ?? '';
}

/** Raw access to the records, as anyone who can read and write the database has it. */
interface RawRecords {
  keys(): Promise<string[]>;
  get(row: string): Promise<string>;
  set(row: string, value: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(row: string): Promise<void>;
  close(): Promise<void>;
}

function rawRecords(backend: 'postgres' | 'redis', url: string): RawRecords {
  if (backend === 'postgres') {
    const database = new URL(url).pathname.slice(1);
    const sql = (statement: string): string => postgres?.sqlOn(database, statement) ?? '';
    const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;
    return {
      keys: async () => sql('SELECT key FROM loginkit_store ORDER BY key').split('\n').filter(Boolean),
      get: async (row) => sql(`SELECT version || ':' || data FROM loginkit_store WHERE key = ${quote(row)}`),
      set: async (row, value) => {
        const [version, ...data] = value.split(':');
        sql(`UPDATE loginkit_store SET version = ${Number(version)}, data = ${quote(data.join(':'))} WHERE key = ${quote(row)}`);
      },
      rename: async (from, to) => void sql(`UPDATE loginkit_store SET key = ${quote(to)} WHERE key = ${quote(from)}`),
      remove: async (row) => void sql(`DELETE FROM loginkit_store WHERE key = ${quote(row)}`),
      close: async () => undefined,
    };
  }
  const client = new Redis(url);
  return {
    keys: async () => (await client.hkeys(ENTRIES_KEY)).sort(),
    get: async (row) => (await client.hget(ENTRIES_KEY, row)) ?? '',
    set: async (row, value) => void (await client.hset(ENTRIES_KEY, row, value)),
    rename: async (from, to) => {
      const value = (await client.hget(ENTRIES_KEY, from)) ?? '';
      await client.multi().hdel(ENTRIES_KEY, from).hset(ENTRIES_KEY, to, value).exec();
    },
    remove: async (row) => void (await client.hdel(ENTRIES_KEY, row)),
    close: async () => void client.disconnect(),
  };
}

/** The one row `write` added. */
async function rowWritten(raw: RawRecords, write: () => Promise<void>): Promise<string> {
  const before = new Set(await raw.keys());
  await write();
  const added = (await raw.keys()).filter((row) => !before.has(row));
  assert.equal(added.length, 1, 'one record was added');
  return added[0] as string;
}

for (const backend of ['postgres', 'redis'] as const) {
  describe(`shared store hardening on ${backend}`, { skip: missing }, () => {
    test('record ids in the database do not reveal who holds which credential; lookups and locks still work', async () => {
      const url = freshUrl(backend);
      const key = await initWithNewKey(url);
      const store = sharedStore(fleetEnv(url, key));
      await store.update((entries) => ({ ...entries, 'openai/alice-at-example': { kind: 'api_key', marker: 'alice' } }));
      await seedSharedToken(store, 'anthropic', 'bob-token');
      const raw = rawRecords(backend, url);
      try {
        const rows = await raw.keys();
        assert.equal(rows.length, 3);
        for (const row of rows) {
          assert.ok(!/openai|alice|anthropic|default/.test(row), `the record id ${row} names its entry`);
          assert.match(row, /^(~meta|r\.[A-Za-z0-9_-]{43})$/);
        }
        const other = sharedStore(fleetEnv(url, key));
        const entries = await other.read({ fresh: true });
        assert.deepEqual(entries['openai/alice-at-example'], { kind: 'api_key', marker: 'alice' });
        const home = await machineHome(url);
        const token = await runCli(['token', 'anthropic'], { home, env: { LOGINKIT_DATA_KEY: key } });
        assert.equal(token.stdout, 'bob-token\n', token.stderr);

        if (backend === 'redis') {
          const watcher = new Redis(url);
          const published: string[] = [];
          watcher.on('message', (_channel: string, message: string) => published.push(message));
          await watcher.subscribe('loginkit:released');
          const held = await other.withLock('refresh-openai/alice-at-example', async () => watcher.duplicate().keys('loginkit:lock:*'));
          await sleep(100);
          watcher.disconnect();
          assert.equal(held.length, 1, 'the lock was held in the database');
          assert.ok(!held[0]?.includes('alice'), `the lock key ${held[0]} names its credential`);
          assert.ok(published.length >= 1 && published.every((message) => !message.includes('alice')), 'the release names nobody');
        } else {
          assert.equal(await other.withLock('refresh-openai/alice-at-example', async () => 'held'), 'held');
        }
      } finally {
        await raw.close();
      }
    });

    test("a record copied or moved onto another entry's row (same data key) is refused as damaged", async () => {
      const url = freshUrl(backend);
      const key = await initWithNewKey(url);
      const store = sharedStore(fleetEnv(url, key));
      const raw = rawRecords(backend, url);
      try {
        const alice = await rowWritten(raw, () => seedSharedToken(store, 'alice', 'alice-token'));
        const bob = await rowWritten(raw, () => seedSharedToken(store, 'bob', 'bob-token'));
        const bobsVersion = (await raw.get(bob)).split(':')[0];
        const [, ...alicesData] = (await raw.get(alice)).split(':');
        await raw.set(bob, `${bobsVersion}:${alicesData.join(':')}`);
        const damaged = /The record "r\.[\w-]+" of the shared store .* is damaged/;
        await assert.rejects(sharedStore(fleetEnv(url, key)).read({ fresh: true }), damaged, 'copied');
        // Moved rather than copied: no second copy gives it away, only the record's id.
        await raw.remove(alice);
        await assert.rejects(sharedStore(fleetEnv(url, key)).read({ fresh: true }), damaged, 'moved');
        const token = await runCli(['token', 'bob'], { home: await machineHome(url), env: { LOGINKIT_DATA_KEY: key } });
        assert.equal(token.code, 1);
        assert.ok(!token.stdout.includes('alice-token'), "bob never gets alice's token");
      } finally {
        await raw.close();
      }
    });

    test('a password in the query string (?password=) works, is masked wherever user:password@ is, and never reaches a child', async () => {
      const withUserInfo = new URL(freshUrl(backend));
      const password = decodeURIComponent(withUserInfo.password);
      withUserInfo.password = '';
      withUserInfo.searchParams.set('password', password);
      const url = withUserInfo.href;
      const key = await initWithNewKey(url);
      await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'query-password-token');
      const home = await machineHome(url, { id: 'demo', issuer: 'https://auth.example.com', clientId: 'loginkit-test' });
      const env = { LOGINKIT_STORE: url, LOGINKIT_DATA_KEY: key };
      for (const argv of [['store', 'status'], ['store', 'status', '--json'], ['status']]) {
        const result = await runCli(argv, { home, env });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /password=\*\*\*/, argv.join(' '));
        assert.ok(!(result.stdout + result.stderr).includes(password), `${argv.join(' ')} shows the password`);
      }
      const wrong = await runCli(['token', 'demo'], {
        home,
        env: { ...env, LOGINKIT_STORE: url.replace(encodeURIComponent(password), 'not-the-password') },
      });
      assert.equal(wrong.code, 1);
      assert.ok(!wrong.stderr.includes('not-the-password'), wrong.stderr);
      const seen = join(home, 'child-env.json');
      const exec = await runCli(
        [
          'exec',
          'demo',
          '--',
          process.execPath,
          '-e',
          `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.env))`,
        ],
        { home, env },
      );
      assert.equal(exec.code, 0, exec.stderr);
      const childEnv = await readFile(seen, 'utf8');
      assert.ok(childEnv.includes('query-password-token'));
      assert.ok(!childEnv.includes(password), 'the store URL with its password reached the child');
    });

    test('a store of layout 1 (entry keys as record ids) is read as it is, and its next write moves every record to keyed ids', async () => {
      const url = freshUrl(backend);
      const key = await initWithNewKey(url);
      const raw = rawRecords(backend, url);
      try {
        const row = await rowWritten(raw, () => seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'layout-one-token'));
        // What an older loginkit wrote: the entry key as the record's id, schema version 1.
        await raw.rename(row, 'demo/default');
        const meta = await raw.get('~meta');
        await raw.set('~meta', meta.replace(`"schemaVersion":${SHARED_SCHEMA_VERSION}`, '"schemaVersion":1'));
        const home = await machineHome(url);
        const token = await runCli(['token', 'demo'], { home, env: { LOGINKIT_DATA_KEY: key } });
        assert.equal(token.stdout, 'layout-one-token\n', token.stderr);
        assert.deepEqual(await raw.keys(), ['demo/default', '~meta'].sort(), 'reading changes nothing');
        if (backend === 'redis') {
          // Machines still running the earlier loginkit lock by plain names: until the upgrade, so does this one.
          const admin = new Redis(url);
          const held = await sharedStore(fleetEnv(url, key)).withLock('refresh-demo/default', () => admin.keys('loginkit:lock:*'));
          admin.disconnect();
          assert.deepEqual(held, ['loginkit:lock:refresh-demo/default']);
        }

        await seedSharedToken(sharedStore(fleetEnv(url, key)), 'extra', 'extra-token');
        const rows = await raw.keys();
        assert.equal(rows.length, 3);
        assert.ok(
          rows.every((id) => id === '~meta' || /^r\./.test(id)),
          `every record moved to a keyed id: ${rows.join(', ')}`,
        );
        assert.match(await raw.get('~meta'), new RegExp(`"schemaVersion":${SHARED_SCHEMA_VERSION}`));
        const again = await runCli(['token', 'demo'], { home, env: { LOGINKIT_DATA_KEY: key } });
        assert.equal(again.stdout, 'layout-one-token\n', again.stderr);
      } finally {
        await raw.close();
      }
    });
  });
}

describe('shared store hardening: concurrency', { skip: missing }, () => {
  /** Adds one to the entry `counter` through `store`. */
  const increment = (store: EntryStore): Promise<unknown> =>
    store.update((entries) => ({ ...entries, counter: Number(entries.counter ?? 0) + 1 }));

  test('PostgreSQL: 8 concurrent increments of one entry from two clients end at 8 (an update never ignores the version)', async () => {
    const url = freshUrl('postgres');
    const key = await initWithNewKey(url);
    const clients = [sharedStore(fleetEnv(url, key)), sharedStore(fleetEnv(url, key))];
    await Promise.all(clients.map((client) => client.read({ fresh: true })));
    await Promise.all(Array.from({ length: 8 }, (_, i) => increment(clients[i % 2] as EntryStore)));
    assert.equal((await sharedStore(fleetEnv(url, key)).read({ fresh: true })).counter, 8);
  });

  test('Redis: two withLock holders never overlap, and an old holder whose lock lapsed and was taken over does not release it', async () => {
    const url = freshUrl('redis');
    const key = await initWithNewKey(url);
    const [a, b] = [sharedStore(fleetEnv(url, key)), sharedStore(fleetEnv(url, key))];
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? a : b).withLock('exclusive', async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(40);
          inside -= 1;
        }),
      ),
    );
    assert.equal(most, 1, 'holders overlapped');

    const admin = new Redis(url);
    try {
      let takenOver!: () => void;
      const bInside = new Promise<void>((resolve) => (takenOver = resolve));
      let letBGo!: () => void;
      const bMayLeave = new Promise<void>((resolve) => (letBGo = resolve));
      let bDone: Promise<unknown> = Promise.resolve();
      let lockKey = '';
      await a.withLock('fenced', async () => {
        [lockKey = ''] = await admin.keys('loginkit:lock:*');
        // A's lock lapses (as when its holder stalls past the bound) and B takes it over.
        await admin.del(lockKey);
        bDone = b.withLock('fenced', async () => {
          takenOver();
          await bMayLeave;
        });
        await bInside;
      });
      assert.notEqual(lockKey, '');
      assert.equal(await admin.exists(lockKey), 1, "the old holder's release deleted the new holder's lock");
      letBGo();
      await bDone;
      assert.equal(await admin.exists(lockKey), 0, 'the new holder releases its own lock');
    } finally {
      admin.disconnect();
    }
  });
});
