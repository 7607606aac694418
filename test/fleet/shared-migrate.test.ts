// `loginkit store migrate` between this machine's local store and a shared one, on real PostgreSQL and Redis
// (and the keychain backend on gnome-keyring over a private D-Bus): both directions through the CLI, move
// semantics (an entry ends in one place), a differing entry refusing with nothing changed, kill -9 in the
// middle and a rerun completing the move, and the password, the data key and the tokens never printed.
// This process talks to the same bus (the keychain reads process.env), so the CLI runs in process.
import assert from 'node:assert/strict';
import { readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { MigrationStep } from '../../src/store/admin.js';
import type { Entries } from '../../src/store/entry-store.js';
import { type StoreBackend, createCredentialStore } from '../../src/store/select-store.js';
import { type Bundle, bundleProgram } from '../helpers/bundle.js';
import { makeHome, runCli, startCli } from '../helpers/cli.js';
import { type PostgresServer, type RedisServer, databasesMissing, startPostgres, startRedis } from '../helpers/databases.js';
import { type SecretService, credentialEntry, killMigrationAt, seedStore, startSecretService, storeText } from '../store/support.js';
import { fleetEnv, initWithNewKey, machineHome, sharedStore } from './support.js';

const missing = databasesMissing();
const PG_PASSWORD = 'pg-Migrate-pass-7781';
const REDIS_PASSWORD = 'redis-Migrate-pass-3319';
const PASSPHRASE = 'local migrate passphrase';
const TOKENS = { acme: 'move-token-acme-1111111111', zeta: 'move-token-zeta-2222222222', beta: 'move-token-beta-3333333333' };
const FIXTURE = fileURLToPath(new URL('../store/fixtures/migrate-until.ts', import.meta.url));

/** The store entries of every credential in TOKENS. */
function credentials(tokens: Record<string, string> = TOKENS): Entries {
  return Object.assign({}, ...Object.entries(tokens).map(([provider, token]) => credentialEntry(provider, token))) as Entries;
}

/** The local store file's entries, read with the backend that wrote it. */
async function localEntries(home: string, backend: StoreBackend): Promise<Entries> {
  return createCredentialStore({ path: join(home, 'credentials.json'), env: { LOGINKIT_PASSPHRASE: PASSPHRASE }, choice: backend }).read({
    fresh: true,
  });
}

function backendOf(text: string): StoreBackend {
  return (JSON.parse(text) as { protection?: StoreBackend }).protection ?? 'file';
}

function accessTokens(entries: Entries): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).map(([key, value]) => [key, (value as { accessToken: string }).accessToken]));
}

function assertNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `a secret was printed:\n${text}`);
}

interface MoveSummary {
  from: string | null;
  to: string;
  entries: number;
  changed: boolean;
  shared: string | null;
  alreadyThere: number;
  fleet: string | null;
  note: string | null;
}

describe('store migrate between the local store and a shared one', { skip: missing, timeout: 300_000 }, () => {
  let service: SecretService;
  let postgres: PostgresServer;
  let redis: RedisServer;
  let fixture: Bundle;
  let databases = 0;
  let redisDatabases = 0;
  const postgresUrl = (): string => {
    const name = `moves${++databases}`;
    postgres.sql(`CREATE DATABASE ${name}`);
    return postgres.url('127.0.0.1', name);
  };
  const redisUrl = (): string => redis.url().replace(/\/0$/, `/${++redisDatabases}`);
  const dump = (url: string): string =>
    postgres.sqlOn(
      url.split('/').pop() ?? '',
      "SELECT coalesce(string_agg(key || ':' || version || ':' || data, chr(10) ORDER BY key), '') FROM loginkit_store",
    );
  const sharedTokens = async (url: string, key: string): Promise<Record<string, string>> =>
    accessTokens(await sharedStore(fleetEnv(url, key)).read({ fresh: true }));

  /** A killed process's file locks go stale 10 s after its last heartbeat: backdate them rather than wait. */
  const releaseDeadLocks = async (home: string): Promise<void> => {
    const dir = join(home, 'locks');
    const longAgo = new Date(Date.now() - 60_000);
    for (const name of await readdir(dir)) await utimes(join(dir, name), longAgo, longAgo);
  };

  before(async () => {
    service = await startSecretService();
    process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
    postgres = await startPostgres({ password: PG_PASSWORD });
    redis = await startRedis({ password: REDIS_PASSWORD });
    fixture = await bundleProgram(FIXTURE);
  });
  after(async () => {
    postgres?.close();
    await redis?.close();
    await service?.stop();
    await fixture?.dispose();
  });

  test('--to shared (PostgreSQL): a keychain store moves into the shared store, other machines read it, the local file keeps none', async () => {
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    const home = await machineHome(url);
    await seedStore(home, 'keychain', credentials());

    const result = await runCli(['store', 'migrate', '--to', 'shared', '--json'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /^Moved 3 credentials from the local keychain store .*credentials\.json into the shared store postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/moves\d+\.\n$/,
    );
    const summary = JSON.parse(result.stdout) as MoveSummary;
    assert.deepEqual(
      [summary.from, summary.to, summary.entries, summary.changed, summary.alreadyThere, summary.fleet, summary.note],
      ['keychain', 'postgres', 3, true, 0, null, null],
    );
    assert.match(summary.shared ?? '', /^postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/moves\d+$/);
    assertNoSecret(result.stdout + result.stderr, PG_PASSWORD, key, ...Object.values(TOKENS));

    assert.deepEqual(await localEntries(home, 'keychain'), {}, 'nothing is left in the local file');
    assert.equal(backendOf(await storeText(home)), 'keychain', 'the local file keeps its backend');
    assert.deepEqual(await sharedTokens(url, key), {
      'acme/default': TOKENS.acme,
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    const other = await machineHome(url);
    const token = await runCli(['token', 'zeta'], { home: other, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(token.stdout, `${TOKENS.zeta}\n`, token.stderr);
    assert.deepEqual(
      (await readdir(home)).filter((name) => name.includes('credentials')),
      ['credentials.json'],
      'no journal or temporary file is left',
    );

    const again = await runCli(['store', 'migrate', '--to', 'shared'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /holds nothing to move; the shared store postgres:\/\/\*\*\*@.* was left as it was/);
  });

  test('--to passphrase (Redis, LOGINKIT_STORE): the shared store is emptied into the local file; the fleet is told, and what to unset', async () => {
    const url = redisUrl();
    const key = await initWithNewKey(url);
    const shared = sharedStore(fleetEnv(url, key));
    await shared.update((entries) => ({ ...entries, ...credentials() }));
    const home = await makeHome();
    const env = { LOGINKIT_STORE: url, LOGINKIT_DATA_KEY: key, LOGINKIT_PASSPHRASE: PASSPHRASE };

    const result = await runCli(['store', 'migrate', '--to', 'passphrase', '--json'], { home, env });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.match(
      lines[0] ?? '',
      /^Moved 3 credentials from the shared store redis:\/\/\*\*\*@127\.0\.0\.1:\d+\/\d+ into the local passphrase store .*credentials\.json\.$/,
    );
    assert.equal(lines[1], "The other machines of the fleet no longer have these 3 entries: they are in this machine's local store alone.");
    assert.equal(
      lines[2],
      'LOGINKIT_STORE still names the shared store: unset it (or set it to passphrase) so that this machine uses its local store.',
    );
    const summary = JSON.parse(result.stdout) as MoveSummary;
    assert.deepEqual([summary.from, summary.to, summary.entries, summary.changed], ['redis', 'passphrase', 3, true]);
    assert.ok(summary.fleet && summary.note);
    assertNoSecret(result.stdout + result.stderr, REDIS_PASSWORD, key, PASSPHRASE, ...Object.values(TOKENS));

    assert.deepEqual(await sharedTokens(url, key), {}, 'moved, not copied: the shared store holds none');
    assert.equal(backendOf(await storeText(home)), 'passphrase');
    for (const token of Object.values(TOKENS)) assert.ok(!(await storeText(home)).includes(token));
    const local = await runCli(['token', 'beta'], { home, env: { LOGINKIT_PASSPHRASE: PASSPHRASE } });
    assert.equal(local.stdout, `${TOKENS.beta}\n`, local.stderr);
    const fleetMachine = await runCli(['store', 'status', '--json'], { home: await machineHome(url), env: { LOGINKIT_DATA_KEY: key } });
    assert.equal((JSON.parse(fleetMachine.stdout) as { entries: number }).entries, 0, 'the other machines no longer have them');
  });

  test('--to keychain (PostgreSQL, config.json): a plaintext local file is converted and keeps its own entry; config.json is rewritten', async () => {
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    await sharedStore(fleetEnv(url, key)).update((entries) => ({ ...entries, ...credentials({ acme: TOKENS.acme, zeta: TOKENS.zeta }) }));
    const home = await machineHome(url);
    await seedStore(home, 'file', credentials({ beta: TOKENS.beta }));

    const result = await runCli(['store', 'migrate', '--to', 'keychain', '--json'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Moved 2 credentials from the shared store postgres:\/\/\*\*\*@\S+ into the local keychain store/);
    assert.match(result.stderr, /config\.json now says "store": "keychain": this machine uses its local store\./);
    assert.equal((JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as { store: string }).store, 'keychain');
    assert.equal(backendOf(await storeText(home)), 'keychain');
    assert.deepEqual(accessTokens(await localEntries(home, 'keychain')), {
      'acme/default': TOKENS.acme,
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    assert.equal(dump(url).split('\n').length, 1, 'only the description record is left in the table');
    for (const provider of ['acme', 'beta', 'zeta'] as const) {
      const token = await runCli(['token', provider], { home, env: {} });
      assert.equal(token.stdout, `${TOKENS[provider]}\n`, token.stderr);
    }
    assertNoSecret(result.stdout + result.stderr, PG_PASSWORD, key, ...Object.values(TOKENS));
  });

  test('a differing entry refuses the whole move in either direction, naming the entry, with nothing changed; --replace moves it', async () => {
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    // The same zeta entry on both sides (credentialEntry stamps the time): identical, so not in the way.
    const zeta = credentialEntry('zeta', TOKENS.zeta);
    await sharedStore(fleetEnv(url, key)).update((entries) => ({
      ...entries,
      ...credentialEntry('acme', 'shared-acme-token-000000'),
      ...zeta,
    }));
    const home = await machineHome(url);
    await seedStore(home, 'file', { ...credentials({ acme: TOKENS.acme, beta: TOKENS.beta }), ...zeta });
    const databaseBefore = dump(url);
    const fileBefore = await storeText(home);
    const configBefore = await readFile(join(home, 'config.json'), 'utf8');
    const env = { LOGINKIT_DATA_KEY: key, LOGINKIT_PASSPHRASE: PASSPHRASE };

    for (const to of ['shared', 'passphrase']) {
      const refused = await runCli(['store', 'migrate', '--to', to], { home, env });
      assert.equal(refused.code, 1, refused.stderr);
      const [source, destination] = to === 'shared' ? ['local store', 'shared store'] : ['shared store', 'local store'];
      assert.match(
        refused.stderr,
        new RegExp(
          `^error: 1 entry is in both the ${source} \\S+ and the ${destination} \\S+ with other values: "acme/default"; nothing was moved\\.\\nKeep the ones being moved, replacing the others: loginkit store migrate --to ${to} --replace \\(or sign out of them in one store first\\)\\.\\n$`,
        ),
      );
      assertNoSecret(refused.stdout + refused.stderr, PG_PASSWORD, key, 'shared-acme-token', ...Object.values(TOKENS));
      assert.equal(dump(url), databaseBefore, `--to ${to}: the shared store is unchanged`);
      assert.equal(await storeText(home), fileBefore, `--to ${to}: the local file is unchanged`);
      assert.equal(await readFile(join(home, 'config.json'), 'utf8'), configBefore, `--to ${to}: config.json is unchanged`);
    }

    const replaced = await runCli(['store', 'migrate', '--to', 'shared', '--replace', '--json'], { home, env });
    assert.equal(replaced.code, 0, replaced.stderr);
    const summary = JSON.parse(replaced.stdout) as MoveSummary;
    assert.deepEqual([summary.entries, summary.alreadyThere], [3, 1], 'zeta was there already, identical');
    assert.match(replaced.stderr, /Moved 3 credentials .* \(1 of them already there\)\./);
    assert.deepEqual(await sharedTokens(url, key), {
      'acme/default': TOKENS.acme,
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    assert.deepEqual(await localEntries(home, 'file'), {});
  });

  test('not initialised, or no shared store named: the existing errors, nothing changed', async () => {
    postgres.sql('CREATE DATABASE uninitialised');
    const url = postgres.url('127.0.0.1', 'uninitialised');
    const home = await machineHome(url);
    await seedStore(home, 'file', credentials({ acme: TOKENS.acme }));
    const before = await storeText(home);
    const notInitialised = await runCli(['store', 'migrate', '--to', 'shared'], {
      home,
      env: { LOGINKIT_DATA_KEY: Buffer.alloc(32, 3).toString('base64') },
    });
    assert.equal(notInitialised.code, 1);
    assert.match(notInitialised.stderr, /The shared store postgres:\/\/\*\*\*@\S+ is not initialised\.\nCreate it: loginkit store init/);
    assert.equal(await storeText(home), before);

    const local = await makeHome();
    const noShared = await runCli(['store', 'migrate', '--to', 'shared'], { home: local, env: {} });
    assert.equal(noShared.code, 1);
    assert.match(
      noShared.stderr,
      /store migrate --to shared moves the local store into the shared store that LOGINKIT_STORE .* names, and neither names one\./,
    );
    for (const result of [notInitialised, noShared]) assertNoSecret(result.stdout + result.stderr, PG_PASSWORD);
  });

  test('a refresh under way on another machine (its refresh lock held in PostgreSQL) is waited for, and its new token is the one moved', async () => {
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    const fleet = sharedStore(fleetEnv(url, key));
    await fleet.update((entries) => ({ ...entries, ...credentials() }));
    const home = await makeHome();
    const env = { LOGINKIT_STORE: url, LOGINKIT_DATA_KEY: key };
    let migration: ReturnType<typeof startCli> | undefined;
    // What a refreshing machine does: hold the credential's refresh lock, redeem, then write the new tokens.
    await fleet.withLock('refresh-acme/default', async () => {
      migration = startCli(['store', 'migrate', '--to', 'file'], { home, env });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.ok(migration.running(), 'the move waits for the refresh');
      assert.equal((await localEntries(home, 'file'))['acme/default'], undefined, 'acme was not moved meanwhile');
      await fleet.update((entries) => ({ ...entries, ...credentialEntry('acme', 'rotated-during-the-move') }));
    });
    const result = await migration?.exited;
    assert.equal(result?.code, 0, result?.stderr);
    assert.deepEqual(accessTokens(await localEntries(home, 'file')), {
      'acme/default': 'rotated-during-the-move',
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    assert.deepEqual(await sharedTokens(url, key), {});
  });

  for (const step of ['write', 'verify', 'cleanup'] as MigrationStep[]) {
    test(`kill -9 at "${step}" of a move into the shared store: nothing is lost, and a rerun completes the move`, async () => {
      const url = postgresUrl();
      const key = await initWithNewKey(url);
      const home = await machineHome(url);
      await seedStore(home, 'file', credentials());
      await killMigrationAt(fixture, home, { LOGINKIT_DATA_KEY: key }, 'shared', step);

      // Every credential is in one store or the other (or, for the one being moved, both).
      const local = accessTokens(await localEntries(home, 'file'));
      const shared = await sharedTokens(url, key);
      assert.deepEqual({ ...shared, ...local }, { 'acme/default': TOKENS.acme, 'beta/default': TOKENS.beta, 'zeta/default': TOKENS.zeta });
      if (step === 'cleanup') assert.deepEqual(Object.keys(shared), ['acme/default'], 'the first entry was copied, and is still local too');

      await releaseDeadLocks(home);
      const rerun = await runCli(['store', 'migrate', '--to', 'shared', '--json'], {
        home,
        env: { LOGINKIT_DATA_KEY: key },
        timeoutMs: 40_000,
      });
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.equal((JSON.parse(rerun.stdout) as MoveSummary).entries, 3);
      assert.deepEqual(await localEntries(home, 'file'), {});
      assert.deepEqual(await sharedTokens(url, key), {
        'acme/default': TOKENS.acme,
        'beta/default': TOKENS.beta,
        'zeta/default': TOKENS.zeta,
      });
      assert.deepEqual(
        (await readdir(home)).filter((name) => name.includes('credentials')),
        ['credentials.json'],
      );
    });
  }

  test('killed after copying, then refreshed by another machine: the rerun keeps the shared copy, in either direction', async () => {
    // Into the shared store: the shared copy (refreshed by the fleet since) stays, the stale local one goes.
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    const home = await machineHome(url);
    await seedStore(home, 'file', credentials());
    await killMigrationAt(fixture, home, { LOGINKIT_DATA_KEY: key }, 'shared', 'cleanup');
    assert.match(await readFile(join(home, 'credentials.json.moving'), 'utf8'), /"acme\/default"/);
    await sharedStore(fleetEnv(url, key)).update((entries) => ({ ...entries, ...credentialEntry('acme', 'refreshed-by-the-fleet-1') }));
    await releaseDeadLocks(home);
    const rerun = await runCli(['store', 'migrate', '--to', 'shared', '--json'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual([(JSON.parse(rerun.stdout) as MoveSummary).entries, (JSON.parse(rerun.stdout) as MoveSummary).alreadyThere], [3, 1]);
    assert.deepEqual(await sharedTokens(url, key), {
      'acme/default': 'refreshed-by-the-fleet-1',
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    assert.deepEqual(await localEntries(home, 'file'), {});

    // Out of the shared store: the local copy is replaced by the shared one, refreshed since.
    await killMigrationAt(fixture, home, { LOGINKIT_DATA_KEY: key }, 'file', 'cleanup');
    assert.deepEqual(Object.keys(await localEntries(home, 'file')), ['acme/default']);
    await sharedStore(fleetEnv(url, key)).update((entries) => ({ ...entries, ...credentialEntry('acme', 'refreshed-by-the-fleet-2') }));
    await releaseDeadLocks(home);
    const back = await runCli(['store', 'migrate', '--to', 'file'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(accessTokens(await localEntries(home, 'file')), {
      'acme/default': 'refreshed-by-the-fleet-2',
      'beta/default': TOKENS.beta,
      'zeta/default': TOKENS.zeta,
    });
    assert.deepEqual(await sharedTokens(url, key), {});
    assert.deepEqual(
      (await readdir(home)).filter((name) => name.includes('credentials')),
      ['credentials.json'],
    );
  });

  test('without a journal entry, copies that differ after all are refused rather than guessed', async () => {
    const url = postgresUrl();
    const key = await initWithNewKey(url);
    const home = await machineHome(url);
    await seedStore(home, 'file', credentials());
    await killMigrationAt(fixture, home, { LOGINKIT_DATA_KEY: key }, 'shared', 'cleanup');
    await writeFile(join(home, 'credentials.json.moving'), '{"moving":{}}\n', { mode: 0o600 });
    await sharedStore(fleetEnv(url, key)).update((entries) => ({ ...entries, ...credentialEntry('acme', 'changed-elsewhere-0000') }));
    await releaseDeadLocks(home);
    const rerun = await runCli(['store', 'migrate', '--to', 'shared'], { home, env: { LOGINKIT_DATA_KEY: key } });
    assert.equal(rerun.code, 1);
    assert.match(rerun.stderr, /with other values: "acme\/default"; nothing was moved/);
  });
});
