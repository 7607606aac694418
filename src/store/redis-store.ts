import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LoginkitError, StorageError } from '../errors.js';
import { importOptional } from '../shared/optional-dependency.js';
import { LOCK_STALE_AFTER_MS, LOCK_WAIT_LIMIT_MS } from './limits.js';
import { type SharedTarget, databaseFailure, isUnreachableCode, refusedSignIn, unreachable } from './shared-errors.js';
import type { SharedDriver } from './shared-store.js';

/** The hash of records: field = entry key, value = `<version>:<envelope>`; `~meta` describes the store. */
export const REDIS_ENTRIES_KEY = 'loginkit:entries';
/** The counter that hands out fencing tokens, one per lock taken. */
const FENCE_KEY = 'loginkit:fence';
/** Lock keys are this prefix and the lock's name. */
const LOCK_PREFIX = 'loginkit:lock:';
/** The channel on which a lock's release is published, with the lock's name as message. */
const RELEASE_CHANNEL = 'loginkit:released';
/** How long a waiter sleeps when no release is published: bounds how late an expired lock (dead holder) is noticed. */
const FALLBACK_WAIT_MS = 1_000;

// Applies changes (field, expected version, data; empty data deletes) only if every field is still at its
// expected version; atomic because Redis runs a script alone.
const COMPARE_AND_SET = `
local n = #ARGV / 3
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[1], ARGV[i * 3 + 1])
  local version = 0
  if current then version = tonumber(string.match(current, '^(%d+):')) end
  if version ~= tonumber(ARGV[i * 3 + 2]) then return 0 end
end
for i = 0, n - 1 do
  local field, data = ARGV[i * 3 + 1], ARGV[i * 3 + 3]
  if data == '' then
    redis.call('HDEL', KEYS[1], field)
  else
    redis.call('HSET', KEYS[1], field, (tonumber(ARGV[i * 3 + 2]) + 1) .. ':' .. data)
  end
end
return 1`;

// Extends or releases a lock only while it still holds this holder's fencing token: a holder whose lock
// expired and was taken over can never extend or release the new holder's.
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) redis.call('PUBLISH', KEYS[2], ARGV[2]) return 1 end return 0`;

/**
 * The Redis side of a shared store (ioredis, loaded only when a redis:// URL is used). Records live in one
 * hash; writes go through a compare-and-set script on their versions. A lock is `SET NX PX` holding a
 * fencing token (INCR), extended by its live holder and gone after {@link LOCK_STALE_AFTER_MS} when the
 * holder dies; a release is published so that waiters (subscribed) retry at once.
 */
export async function createRedisDriver(url: string, target: SharedTarget): Promise<SharedDriver> {
  const { Redis: RedisClient } = await importOptional('ioredis', 'A Redis store', () => import('ioredis'));
  const options = {
    connectTimeout: target.timeoutMs,
    commandTimeout: target.timeoutMs,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    // Reconnect quickly after a restart; a command meanwhile fails within the timeout instead of queueing for ever.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  };
  const client = new RedisClient(url, options);
  client.on('error', () => undefined);
  // A short-lived process must be able to exit with the connection open.
  client.on('connect', () => unrefSocket(client));

  const run = async <T>(what: string, command: () => Promise<T>): Promise<T> => {
    try {
      return await command();
    } catch (error) {
      throw translate(error, target, what);
    }
  };

  return {
    backend: 'redis',
    location: target.location,

    // Nothing to create: the hash appears with its first record.
    initialise: () => run('Connecting', async () => void (await client.ping())),

    async loadAll() {
      const fields = await run('Reading', () => client.hgetall(REDIS_ENTRIES_KEY));
      return Object.entries(fields).flatMap(([key, value]) => {
        const match = /^(\d+):/.exec(value);
        return match ? [{ key, version: Number(match[1]), data: value.slice(match[0].length) }] : [];
      });
    },

    async commit(changes) {
      const args = changes.flatMap((change) => [change.key, String(change.expected), change.data ?? '']);
      const applied = await run('Writing', () => client.eval(COMPARE_AND_SET, 1, REDIS_ENTRIES_KEY, ...args));
      return applied === 1;
    },

    async withLock(name, task, options) {
      const key = `${LOCK_PREFIX}${name}`;
      const taken = await run('Taking the lock', () => takeLock(client, key, name, target, options?.whileWaiting));
      // The lock is not held: the work was done by its holder meanwhile.
      if ('done' in taken) return taken.done;
      const { fence } = taken;
      const heartbeat = setInterval(
        () => void client.eval(EXTEND, 1, key, fence, String(LOCK_STALE_AFTER_MS)).catch(() => undefined),
        LOCK_STALE_AFTER_MS / 4,
      );
      try {
        return await task();
      } finally {
        clearInterval(heartbeat);
        await client.eval(RELEASE, 2, key, RELEASE_CHANNEL, fence, name).catch(() => undefined);
      }
    },

    close: async () => {
      client.disconnect();
    },
  };
}

/**
 * Takes the lock `key` with a new fencing token, waiting for published releases (or the fallback delay)
 * while another holds it, up to {@link LOCK_WAIT_LIMIT_MS}; the subscription exists only while waiting.
 * After a published release, `whileWaiting` may find the work done: then the lock is not taken.
 */
async function takeLock<T>(
  client: Redis,
  key: string,
  name: string,
  target: SharedTarget,
  whileWaiting: (() => Promise<T | undefined>) | undefined,
): Promise<{ fence: string } | { done: T }> {
  const fence = `${await client.incr(FENCE_KEY)}:${randomBytes(8).toString('hex')}`;
  const tryTake = async (): Promise<boolean> => (await client.set(key, fence, 'PX', LOCK_STALE_AFTER_MS, 'NX')) === 'OK';
  if (await tryTake()) return { fence };
  const subscriber = client.duplicate();
  subscriber.on('error', () => undefined);
  let released = 0;
  let wake: (() => void) | undefined;
  subscriber.on('message', (_channel: string, message: string) => {
    if (message !== name) return;
    released += 1;
    wake?.();
  });
  try {
    await subscriber.subscribe(RELEASE_CHANNEL);
    const deadline = Date.now() + LOCK_WAIT_LIMIT_MS;
    for (;;) {
      const seen = released;
      if (await tryTake()) return { fence };
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new StorageError(
          target.location,
          `Another machine has held the lock "${name}" on the shared store ${target.location} for over ${LOCK_WAIT_LIMIT_MS / 1000} s.\nIt is released when that loginkit finishes, or ${LOCK_STALE_AFTER_MS / 1000} s after it stops; try again.`,
        );
      }
      if (released === seen) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(left, FALLBACK_WAIT_MS * (0.5 + Math.random())));
          function done(): void {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
      }
      if (released !== seen) {
        const done = await whileWaiting?.();
        if (done !== undefined) return { done };
      }
    }
  } finally {
    subscriber.disconnect();
  }
}

/** Lets the process exit while the connection is open (ioredis keeps a socket to the server). */
function unrefSocket(client: Redis): void {
  const stream = (client as unknown as { stream?: { unref?: () => void } }).stream;
  stream?.unref?.();
}

/** An ioredis failure as a loginkit error that says what to do, never carrying the password. */
function translate(error: unknown, target: SharedTarget, what: string): LoginkitError {
  if (error instanceof LoginkitError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) return refusedSignIn(target);
  if (isUnreachableCode(code) || code === 'ENOTFOUND') {
    return unreachable(target, code === 'ENOTFOUND' ? `host ${target.host} not found` : message);
  }
  if (/timed? ?out/i.test(message)) return unreachable(target, `no answer within ${target.timeoutMs / 1000} s`, true);
  if (/Connection is closed|max retries|Stream isn't writeable|ECONNREFUSED/i.test(message)) {
    return unreachable(target, 'the connection was closed');
  }
  return databaseFailure(target, what, message);
}
