// Device-flow waits a hostile server controls (interval, slow_down, the code's lifetime), on an injected clock whose
// sleep behaves like Node's timers: a delay above 2^31-1 ms fires after 1 ms. No wait may exceed what a timer holds,
// none may outlast the code, and no poll may come sooner than the server's interval.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { LoginkitError, ProviderError } from '../../src/errors.js';
import { MAX_DEVICE_CODE_LIFETIME_MS, runDeviceAuthorizationFlow } from '../../src/sign-in/device-flow.js';
import type { LoginEvent } from '../../src/sign-in/events.js';
import { createHttp } from '../../src/net/http.js';
import { OPENAI_DEVICE_CODE_LIFETIME_MS, runOpenAIDeviceCodeFlow } from '../../src/openai/device-code.js';
import { MAX_TIMER_DELAY_MS, pollUntilDone } from '../../src/sign-in/polling.js';
import { resolveServerMetadata } from '../../src/oauth/server.js';
import type { HttpServerHandle } from '../helpers/stand-in.js';
import { type DeviceStandInOptions, recordingConnection, startDeviceStandIn, startOpenAIStandIn } from '../remote/support.js';

/** Node's largest timer delay; a larger one is set to 1 ms (with a TimeoutOverflowWarning). */
const NODE_TIMER_LIMIT = 2 ** 31 - 1;
/** Sleeps after which a run counts as a busy loop and is stopped. */
const BUSY_LOOP = 1_000;

/** A clock that moves only when the code sleeps, by what a Node timer would really wait. */
function timerLikeClock(start = 1_700_000_000_000) {
  let time = start;
  const sleeps: number[] = [];
  return {
    start,
    sleeps,
    now: () => time,
    sleep: async (ms: number, signal?: AbortSignal): Promise<void> => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      if (sleeps.length > BUSY_LOOP) throw new Error(`busy loop: ${BUSY_LOOP} sleeps, the last ones of ${ms} ms`);
      time += ms > NODE_TIMER_LIMIT || !(ms >= 1) ? 1 : ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

const servers: HttpServerHandle[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function metadataFor(issuer: string, clientId: string) {
  const provider = {
    id: 'stand-in',
    displayName: 'stand-in',
    issuer,
    clientId,
    scopes: ['openid'],
    redirectUri: 'http://127.0.0.1/callback',
    fallbackRedirectPorts: [],
    endpoints: undefined,
    authorizeParams: {},
    jsonBodyEndpoints: false,
    accountClaims: undefined,
  };
  return resolveServerMetadata(provider, createHttp({ env: {}, timeoutMs: 5_000 }), 5_000);
}

async function runDeviceFlow(options: DeviceStandInOptions) {
  const server = await startDeviceStandIn(options);
  servers.push(server);
  const clock = timerLikeClock();
  const { connection, requests } = recordingConnection(await metadataFor(server.issuer, server.clientId), server.clientId, clock.now);
  const events: LoginEvent[] = [];
  const result = runDeviceAuthorizationFlow({
    connection,
    scopes: ['openid'],
    onEvent: (event) => events.push(event),
    now: clock.now,
    sleep: clock.sleep,
  });
  const error = await result.then(
    () => undefined,
    (e: unknown) => e,
  );
  const pollsAt = requests.filter((r) => r.path === '/token').map((r) => r.at - clock.start);
  return { error, events, pollsAt, clock };
}

describe('device-flow waits under hostile numbers', () => {
  test('a huge interval and expires_in: no wait beyond a timer, no early poll, and the code is waited out within an hour', async () => {
    const { error, events, pollsAt, clock } = await runDeviceFlow({ interval: 1e10, expiresIn: 1e20, answers: ['pending'] });
    for (const ms of clock.sleeps) assert.ok(ms <= NODE_TIMER_LIMIT, `a sleep of ${ms} ms is more than a timer holds`);
    assert.deepEqual(pollsAt, [], 'a poll 1e10 s after the start would be after the code expired');
    assert.ok(error instanceof ProviderError && error.error === 'expired_token', String(error));
    const shown = events.find((event) => event.type === 'device_code');
    assert.ok(shown?.type === 'device_code');
    assert.equal(shown.expiresAt - clock.start, MAX_DEVICE_CODE_LIFETIME_MS, 'the lifetime is clamped to an hour');
    assert.ok(Number.isFinite(new Date(shown.expiresAt).getTime()), 'the expiry can be printed');
    assert.equal(clock.now() - clock.start, MAX_DEVICE_CODE_LIFETIME_MS, 'waited out exactly the clamped lifetime');
  });

  test('a slow_down that names a huge interval waits out the code instead of polling again', async () => {
    const { error, pollsAt, clock } = await runDeviceFlow({ interval: 5, expiresIn: 600, answers: [{ slowDown: 1e10 }] });
    assert.deepEqual(pollsAt, [5_000]);
    assert.deepEqual(clock.sleeps, [5_000, 595_000]);
    assert.ok(error instanceof ProviderError && error.error === 'expired_token', String(error));
  });

  test("OpenAI's device code with a huge interval: no wait beyond a timer, and no poll before the code's 15 minutes end", async () => {
    const server = await startOpenAIStandIn({ interval: '99999999999' });
    servers.push(server);
    const clock = timerLikeClock();
    const { connection, requests } = recordingConnection(await metadataFor(server.issuer, server.clientId), server.clientId, clock.now);
    const error = await runOpenAIDeviceCodeFlow({
      connection,
      scopes: ['openid'],
      onEvent: () => undefined,
      now: clock.now,
      sleep: clock.sleep,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    for (const ms of clock.sleeps) assert.ok(ms <= NODE_TIMER_LIMIT, `a sleep of ${ms} ms is more than a timer holds`);
    assert.equal(requests.filter((r) => r.path === '/api/accounts/deviceauth/token').length, 0);
    assert.ok(error instanceof ProviderError && error.error === 'expired_token', String(error));
    assert.equal(clock.now() - clock.start, OPENAI_DEVICE_CODE_LIFETIME_MS);
  });
});

describe('pollUntilDone', () => {
  test('an interval longer than a timer holds is slept in pieces, and the poll comes no sooner than the interval', async () => {
    const clock = timerLikeClock();
    const intervalMs = 3_000_000_000;
    const attempts: number[] = [];
    const value = await pollUntilDone({
      attempt: async () => {
        attempts.push(clock.now() - clock.start);
        return { kind: 'done', value: 'approved' };
      },
      intervalMs,
      deadline: clock.start + 10 * intervalMs,
      expired: () => new LoginkitError('timeout', 'expired'),
      onProgress: () => undefined,
      now: clock.now,
      sleep: clock.sleep,
    });
    assert.equal(value, 'approved');
    assert.deepEqual(attempts, [intervalMs]);
    assert.deepEqual(clock.sleeps, [MAX_TIMER_DELAY_MS, intervalMs - MAX_TIMER_DELAY_MS]);
  });
});
