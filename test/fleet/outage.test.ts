// The database goes away in the middle of a run: a process that already read the store keeps serving its
// still-valid tokens (no round trip per call, then a warning once it tries again), a new process gets a
// clear error within the timeout, and once the database is back everything works without a new login.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { SHARED_STORE_REVALIDATE_MS, SHARED_STORE_TIMEOUT_MS } from '../../src/store/limits.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { type PostgresServer, type RedisServer, databasesMissing, startPostgres, startRedis } from '../helpers/databases.js';
import { fleetEnv, initWithNewKey, machineHome, seedSharedToken, sharedStore } from './support.js';

const missing = databasesMissing();

describe('the shared store through an outage', { skip: missing }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;

  before(async () => {
    postgres = await startPostgres({ password: 'outage-pg-pass' });
    redis = await startRedis({ password: 'outage-redis-pass' });
  });
  after(async () => {
    postgres?.close();
    await redis?.close();
  });

  test('PostgreSQL restarted mid-run: cached tokens with one warning, clear CLI errors, then recovery without a new login', async () => {
    const url = postgres.url();
    const key = await initWithNewKey(url);
    const store = sharedStore(fleetEnv(url, key));
    await seedSharedToken(store, 'demo', 'outage-token');
    // Due for refresh (under 5 minutes left) but still valid: an outage must not take it away.
    await seedSharedToken(store, 'soon', 'soon-token', { validForMs: 120_000, obtainedAgoMs: 3_000_000 });
    const warnings: string[] = [];
    const kit = createLoginkit({ home: await machineHome(url), env: fleetEnv(url, key), onWarning: (message) => warnings.push(message) });
    assert.equal(await kit.getToken('demo'), 'outage-token');

    postgres.stop();
    const started = Date.now();
    for (let i = 0; i < 1_000; i++) assert.equal(await kit.getToken('demo'), 'outage-token');
    assert.ok(Date.now() - started < SHARED_STORE_REVALIDATE_MS, 'the loop ran inside the window');
    assert.deepEqual(warnings, [], 'served from memory: not one round trip was tried');

    await new Promise((resolve) => setTimeout(resolve, SHARED_STORE_REVALIDATE_MS + 100));
    assert.equal(await kit.getToken('demo'), 'outage-token');
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /^The shared store postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/fleet cannot be reached \(.+\)\. Using the credentials read from it \d+ s ago\.$/,
    );
    assert.equal(await kit.getToken('soon'), 'soon-token', 'a token due for refresh but valid is used while the lock cannot be taken');
    assert.match(warnings.at(-1) ?? '', /cannot be reached .*Using the current access token \(valid until/);

    const home = await makeHome();
    const before = Date.now();
    const failed = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
    assert.equal(failed.code, 1);
    assert.ok(Date.now() - before < SHARED_STORE_TIMEOUT_MS + 5_000, 'within the timeout');
    assert.match(
      failed.stderr,
      /^error: The shared store postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/fleet cannot be reached \(.+\)\.\nCheck that the database is running/,
    );
    assert.ok(!failed.stderr.includes('outage-pg-pass'));

    postgres.start();
    const recovered = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.equal(recovered.stdout, 'outage-token\n');
    await new Promise((resolve) => setTimeout(resolve, SHARED_STORE_REVALIDATE_MS + 100));
    const warned = warnings.length;
    assert.equal(await kit.getToken('demo'), 'outage-token');
    assert.equal(warnings.length, warned, 'the long-running process reconnected by itself');
  });

  test('Redis hung (no answer at all): a clear error within the timeout, then recovery', async () => {
    const url = redis.url();
    const key = await initWithNewKey(url);
    await seedSharedToken(sharedStore(fleetEnv(url, key)), 'demo', 'redis-outage-token');
    const home = await makeHome();
    redis.pause();
    try {
      const before = Date.now();
      const failed = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
      const took = Date.now() - before;
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /cannot be reached \((no answer within \d+ s|.+)\)/);
      assert.ok(took < SHARED_STORE_TIMEOUT_MS + 5_000, `within the timeout (${took} ms)`);
      assert.ok(!failed.stderr.includes('outage-redis-pass'));
    } finally {
      redis.resume();
    }
    const recovered = await runCli(['token', 'demo'], { home, env: fleetEnv(url, key) });
    assert.equal(recovered.stdout, 'redis-outage-token\n', recovered.stderr);
  });
});
