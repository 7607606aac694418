// Several machines (network namespaces, each its own address and a home of its own with config.json only)
// racing `loginkit token` on one expired credential through a shared store, against oidc-provider with
// refresh-token rotation and reuse detection: exactly one refresh, no grant revoked, one token for all.
// Then a machine dies holding the refresh lock: another takes over after the bound, nothing is lost.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { signInOverHttp } from '../helpers/person.js';
import { CLI_ENTRY, cliEnvironment } from '../helpers/cli.js';
import { type PostgresServer, type RedisServer, databasesMissing, startPostgres, startRedis } from '../helpers/databases.js';
import { type Machine, type Machines, createMachines, namespacesMissing, spawnIn } from '../helpers/netns.js';
import { nodeProgram } from '../helpers/node-program.js';
import { expireSharedToken, fleetEnv, initWithNewKey, machineHome, moveCredential, sharedStore, storedAccessToken } from './support.js';

const skip = databasesMissing() ?? namespacesMissing();
const PROVIDER = 'demo';
const MACHINES = 3;
const PER_MACHINE = 2;

interface Racer {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `loginkit token demo` on `machine` (undefined: the host) in a home of its own that points at `url`. */
async function tokenOn(machine: Machine | undefined, url: string, key: string, server: AuthServer): Promise<Racer> {
  const home = await machineHome(url, { id: PROVIDER, issuer: server.issuer, clientId: server.clientId });
  const child = spawnIn(machine, process.execPath, [CLI_ENTRY, 'token', PROVIDER], cliEnvironment(home, { LOGINKIT_DATA_KEY: key }));
  return collect(child);
}

function collect(child: ChildProcess): Promise<Racer> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('one refresh across machines sharing nothing but the database', { skip }, () => {
  let server: AuthServer;
  let machines: Machines;
  let postgres: PostgresServer;
  let redis: RedisServer;

  before(async () => {
    machines = createMachines(MACHINES);
    const hostAddresses = machines.list.map((machine) => machine.hostAddress);
    server = await startAuthServer({ accessTokenTtl: 600, rotateRefreshTokens: true });
    await machines.relayLoopbackPort(server.port);
    postgres = await startPostgres({ extraAddresses: hostAddresses });
    redis = await startRedis({ extraAddresses: hostAddresses, password: 'fleet-redis-pass' });
  });
  after(async () => {
    await server?.close();
    postgres?.close();
    await redis?.close();
    await machines?.close();
  });

  let signedIn: { url: string; key: string } | undefined;

  /**
   * A store at `url` holding the sign-in: through the browser the first time, then moved (not copied: a
   * refresh token used from two stores would be reuse) from the previous test's store. Returns the data key.
   */
  async function signedInStore(url: string): Promise<string> {
    const key = await initWithNewKey(url);
    if (signedIn) {
      await moveCredential(sharedStore(fleetEnv(signedIn.url, signedIn.key)), sharedStore(fleetEnv(url, key)), `${PROVIDER}/default`);
    } else {
      const home = await machineHome(url, { id: PROVIDER, issuer: server.issuer, clientId: server.clientId });
      const kit = createLoginkit({
        home,
        env: { LOGINKIT_DATA_KEY: key },
        openBrowser: async (page) => void (await signInOverHttp(page)),
      });
      await kit.login(PROVIDER);
    }
    signedIn = { url, key };
    return key;
  }

  /** Every racer: PER_MACHINE on each namespace (URL with its own view of the host) and PER_MACHINE on the host. */
  async function race(urlFor: (machine: Machine | undefined) => string, key: string): Promise<Racer[]> {
    const places: Array<Machine | undefined> = [...machines.list, undefined];
    return Promise.all(
      places.flatMap((machine) => Array.from({ length: PER_MACHINE }, () => tokenOn(machine, urlFor(machine), key, server))),
    );
  }

  async function assertOneRefresh(
    url: string,
    key: string,
    racers: Racer[],
    refreshesBefore: number,
    revokedBefore: number,
  ): Promise<void> {
    for (const racer of racers) assert.equal(racer.code, 0, racer.stderr);
    const tokens = new Set(racers.map((racer) => racer.stdout));
    assert.equal(tokens.size, 1, `every machine printed the same token: ${[...tokens].join(' | ')}`);
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1, 'the server saw exactly one refresh');
    assert.equal(server.stats.grantsRevoked, revokedBefore, 'no refresh token was reused, so no grant was revoked');
    const [token] = tokens;
    assert.equal(`${await storedAccessToken(sharedStore(fleetEnv(url, key)), PROVIDER)}\n`, token, 'the refreshed token is the stored one');
    const me = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${String(token).trim()}` } });
    assert.equal(me.status, 200, 'the token works');
  }

  /** The URL of a store of its own for one test (a database, or a Redis database number), as `machine` sees the host. */
  function storeFor(backend: 'postgres' | 'redis', database: number): (machine: Machine | undefined) => string {
    if (backend === 'postgres') {
      postgres.sql(`CREATE DATABASE store${database}`);
      return (machine) => postgres.url(machine?.hostAddress, `store${database}`);
    }
    return (machine) => redis.url(machine?.hostAddress).replace(/\/0$/, `/${database}`);
  }

  for (const backend of ['postgres', 'redis'] as const) {
    test(`${backend}: ${MACHINES} namespaces × ${PER_MACHINE} processes and ${PER_MACHINE} on the host, one expired credential`, async () => {
      const urlFor = storeFor(backend, 1);
      const key = await signedInStore(urlFor(undefined));
      await expireSharedToken(sharedStore(fleetEnv(urlFor(undefined), key)), PROVIDER);
      const refreshes = server.stats.refreshGrants;
      const revoked = server.stats.grantsRevoked;
      const racers = await race(urlFor, key);
      await assertOneRefresh(urlFor(undefined), key, racers, refreshes, revoked);
    });
  }

  for (const backend of ['postgres', 'redis'] as const) {
    test(`${backend}: a machine cut off while holding the refresh lock; another takes over after the bound, nothing lost`, async () => {
      const urlFor = storeFor(backend, 2);
      const url = urlFor(undefined);
      // The database holds two credentials; the second must survive untouched.
      const key = await signedInStore(url);
      const store = sharedStore(fleetEnv(url, key));
      await store.update((entries) => ({ ...entries, 'other/default': { kind: 'api_key', marker: 'keep me' } }));
      await expireSharedToken(store, PROVIDER);

      const [victim, ...survivors] = machines.list;
      assert.ok(victim);
      const holder = spawnIn(
        victim,
        process.execPath,
        [...nodeProgram(new URL('./lock-holder.ts', import.meta.url)), `refresh-${PROVIDER}/default`],
        { ...process.env, LOGINKIT_STORE: urlFor(victim), LOGINKIT_DATA_KEY: key },
      );
      const held = collect(holder);
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
        void held.then((result) => reject(new Error(`the lock holder ended: ${result.stderr}`)));
      });
      // Its packets stop (no FIN reaches the database), then the process dies: only the bound frees the lock.
      machines.cutOff(victim);
      holder.kill('SIGKILL');
      await held;

      const refreshes = server.stats.refreshGrants;
      const revoked = server.stats.grantsRevoked;
      const started = Date.now();
      const racers = await Promise.all(
        [...survivors, undefined].flatMap((machine) => [
          tokenOn(machine, urlFor(machine), key, server),
          tokenOn(machine, urlFor(machine), key, server),
        ]),
      );
      const waited = Date.now() - started;
      await assertOneRefresh(url, key, racers, refreshes, revoked);
      assert.ok(waited >= 3_000, `the racers waited for the dead holder's lock to lapse (${waited} ms)`);
      assert.ok(waited < 40_000, `and not for the whole wait limit (${waited} ms)`);
      assert.deepEqual((await store.read({ fresh: true }))['other/default'], { kind: 'api_key', marker: 'keep me' });
      machines.reconnect(victim);
    });
  }
});
