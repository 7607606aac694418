import { createHash } from 'node:crypto';
import type { Notification, Pool, PoolClient } from 'pg';
import { LoginkitError, StorageError } from '../errors.js';
import { importOptional } from '../shared/optional-dependency.js';
import { LOCK_STALE_AFTER_MS, LOCK_WAIT_LIMIT_MS } from './limits.js';
import { type SharedTarget, databaseFailure, isUnreachableCode, refusedSignIn, unreachable } from './shared-errors.js';
import { type SharedChange, type SharedDriver, type SharedRecord, notInitialised } from './shared-store.js';

/** The one table: an entry per row, its version for optimistic concurrency, its envelope; `~meta` describes the store. */
export const POSTGRES_TABLE = 'loginkit_store';
/** The channel on which a lock's release is announced, with the lock's name as payload. */
const LOCK_CHANNEL = 'loginkit_lock';
/**
 * How long a waiter sleeps when no release is announced: releases are announced (NOTIFY), so this only
 * bounds how late a lock freed by a holder's death (its session ended by the server) is noticed.
 */
const FALLBACK_WAIT_MS = 1_000;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS ${POSTGRES_TABLE} (
  key text PRIMARY KEY,
  version bigint NOT NULL CHECK (version > 0),
  data text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

// SQLSTATE classes and codes that name the cause precisely.
const UNDEFINED_TABLE = '42P01';
const BAD_PASSWORD = new Set(['28P01', '28000']);
const NO_DATABASE = '3D000';
const SERVER_GOING_AWAY = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * The PostgreSQL side of a shared store (the `pg` client, loaded only when a postgres:// URL is used).
 * Writes commit per record only where the version is unchanged; a lock is a transaction-scoped advisory
 * lock keyed by its name, held on its own connection that keeps the transaction alive with a heartbeat.
 * The server ends a holder's session that falls silent for {@link LOCK_STALE_AFTER_MS} (a killed or
 * partitioned machine), which frees its lock; a holder that finishes announces the release with NOTIFY,
 * which wakes the waiters (LISTEN) at once.
 */
export async function createPostgresDriver(url: string, target: SharedTarget): Promise<SharedDriver> {
  const { default: pg } = await importOptional('pg', 'A PostgreSQL store', () => import('pg'));
  const settings = {
    connectionString: url,
    connectionTimeoutMillis: target.timeoutMs,
    query_timeout: target.timeoutMs,
    idleTimeoutMillis: 10_000,
    // A short-lived process (a script's `getToken()`) must be able to exit with connections open.
    allowExitOnIdle: true,
    application_name: 'loginkit',
  };
  // Reads and writes, and apart from them the connections that wait for or hold locks: a lock holder's task
  // reads and writes, so one pool for both could run out with every connection holding a lock.
  const pool: Pool = new pg.Pool({ ...settings, max: 2 });
  const lockPool: Pool = new pg.Pool({ ...settings, max: 8 });
  // An idle connection the server closed (a restart) must not crash the process: the next query reconnects.
  pool.on('error', () => undefined);
  lockPool.on('error', () => undefined);

  const connect = async (from: Pool = pool): Promise<PoolClient> => {
    try {
      const client = await from.connect();
      client.on('error', () => undefined);
      return client;
    } catch (error) {
      throw translate(error, target, 'Connecting');
    }
  };

  const query = async <R extends object>(what: string, text: string, values?: unknown[]): Promise<R[]> => {
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw translate(error, target, what);
    }
  };

  return {
    backend: 'postgres',
    location: target.location,

    async initialise() {
      await query('Creating the table', CREATE_TABLE);
    },

    async loadAll(): Promise<SharedRecord[]> {
      const rows = await query<{ key: string; version: string; data: string }>(
        'Reading',
        `SELECT key, version, data FROM ${POSTGRES_TABLE}`,
      );
      return rows.map((row) => ({ key: row.key, version: Number(row.version), data: row.data }));
    },

    async commit(changes) {
      const client = await connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        for (const change of changes) {
          if ((await client.query(...statementFor(change))).rowCount !== 1) {
            await client.query('ROLLBACK');
            return false;
          }
        }
        await client.query('COMMIT');
        return true;
      } catch (error) {
        broken = true;
        throw translate(error, target, 'Writing');
      } finally {
        client.release(broken);
      }
    },

    async withLock(name, task, options) {
      const client = await connect(lockPool);
      let broken = false;
      const waiter = listenForReleases(client, name);
      try {
        let early: Awaited<ReturnType<typeof task>> | undefined;
        try {
          early = await takeLock(client, name, waiter, target, options?.whileWaiting);
        } catch (error) {
          broken = true;
          throw error instanceof LoginkitError ? error : translate(error, target, 'Taking the lock');
        }
        // The lock is not held: the work was done by its holder meanwhile.
        if (early !== undefined) return early;
        const heartbeat = setInterval(() => void client.query('SELECT 1').catch(() => undefined), LOCK_STALE_AFTER_MS / 4);
        try {
          return await task();
        } finally {
          clearInterval(heartbeat);
          // Delivered when the transaction commits, that is as the lock is released.
          await client
            .query('SELECT pg_notify($1, $2)', [LOCK_CHANNEL, name])
            .then(() => client.query('COMMIT'))
            .catch(() => (broken = true));
        }
      } finally {
        waiter.stop();
        if (!broken) await client.query(`UNLISTEN ${LOCK_CHANNEL}`).catch(() => (broken = true));
        client.release(broken);
      }
    },

    close: async () => {
      await Promise.all([pool.end(), lockPool.end()]);
    },
  };
}

/** The statement that applies one change if the record is still at its expected version. */
function statementFor(change: SharedChange): [string, unknown[]] {
  if (change.data === null) return [`DELETE FROM ${POSTGRES_TABLE} WHERE key = $1 AND version = $2`, [change.key, change.expected]];
  if (change.expected === 0) {
    return [
      `INSERT INTO ${POSTGRES_TABLE} (key, version, data) VALUES ($1, 1, $2) ON CONFLICT (key) DO NOTHING`,
      [change.key, change.data],
    ];
  }
  return [
    `UPDATE ${POSTGRES_TABLE} SET data = $3, version = version + 1, updated_at = now() WHERE key = $1 AND version = $2`,
    [change.key, change.expected, change.data],
  ];
}

interface ReleaseWaiter {
  /** How many releases of the lock were announced so far. */
  count(): number;
  /** Resolves at the next announced release, or after `ms`. */
  wait(ms: number): Promise<void>;
  stop(): void;
}

/** Counts the releases of lock `name` announced to `client` (once it LISTENs), and lets a waiter sleep until one. */
function listenForReleases(client: PoolClient, name: string): ReleaseWaiter {
  let released = 0;
  let wake: (() => void) | undefined;
  const onNotification = (message: Notification): void => {
    if (message.channel !== LOCK_CHANNEL || message.payload !== name) return;
    released += 1;
    wake?.();
  };
  client.on('notification', onNotification);
  return {
    count: () => released,
    wait: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      }),
    stop: () => client.off('notification', onNotification),
  };
}

/**
 * Takes the advisory lock of `name` in a new transaction on `client`, waiting for announced releases (or
 * the fallback delay) while another session holds it, up to {@link LOCK_WAIT_LIMIT_MS}. Returns undefined
 * with the transaction open (committing it releases the lock), or what `whileWaiting` found after a
 * release, without the lock.
 */
async function takeLock<T>(
  client: PoolClient,
  name: string,
  waiter: ReleaseWaiter,
  target: SharedTarget,
  whileWaiting: (() => Promise<T | undefined>) | undefined,
): Promise<T | undefined> {
  const id = lockIdOf(name);
  const deadline = Date.now() + LOCK_WAIT_LIMIT_MS;
  await client.query(`LISTEN ${LOCK_CHANNEL}`);
  for (;;) {
    const seen = waiter.count();
    // The server ends this session if it holds the lock yet stays silent past the bound: a dead holder's lock frees itself.
    await client.query(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${LOCK_STALE_AFTER_MS}`);
    const [row] = (await client.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS got', [id])).rows;
    if (row?.got) return undefined;
    // Not waiting inside a transaction: notifications reach only idle sessions.
    await client.query('ROLLBACK');
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new StorageError(
        target.location,
        `Another machine has held the lock "${name}" on the shared store ${target.location} for over ${LOCK_WAIT_LIMIT_MS / 1000} s.\nIt is released when that loginkit finishes or its connection ends; try again.`,
      );
    }
    if (waiter.count() === seen) await waiter.wait(Math.min(left, FALLBACK_WAIT_MS * (0.5 + Math.random())));
    if (waiter.count() !== seen) {
      const done = await whileWaiting?.();
      if (done !== undefined) return done;
    }
  }
}

/** A lock's 64-bit advisory key: the first 8 bytes of a hash of its name, in loginkit's own space. */
function lockIdOf(name: string): string {
  return createHash('sha256').update(`loginkit lock\0${name}`).digest().readBigInt64BE(0).toString();
}

/** A `pg` failure as a loginkit error that says what to do, never carrying the password. */
function translate(error: unknown, target: SharedTarget, what: string): LoginkitError {
  if (error instanceof LoginkitError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === UNDEFINED_TABLE) return notInitialised(target.location);
  if (typeof code === 'string' && BAD_PASSWORD.has(code)) return refusedSignIn(target, 'PGPASSWORD');
  if (code === NO_DATABASE) {
    return new StorageError(
      target.location,
      `The database of the shared store ${target.location} does not exist.\nCreate it (createdb), then: loginkit store init`,
    );
  }
  if (isUnreachableCode(code) || (typeof code === 'string' && SERVER_GOING_AWAY.has(code)) || code === 'ENOTFOUND') {
    return unreachable(target, code === 'ENOTFOUND' ? `host ${target.host} not found` : message);
  }
  if (/timeout|timed out/i.test(message)) return unreachable(target, `no answer within ${target.timeoutMs / 1000} s`, true);
  if (/Connection terminated|connection is closed|Client has encountered a connection error/i.test(message)) {
    return unreachable(target, 'the connection was closed');
  }
  return databaseFailure(target, what, message);
}
