// RFC 8628 polling against a stand-in device endpoint on loopback: the schedule is checked exactly on an injected
// clock (pending, slow_down, connection failures, expiry), and once in real time with short intervals.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { LoginkitError, ProviderError } from '../../src/errors.js';
import { runDeviceAuthorizationFlow } from '../../src/oauth/device-flow.js';
import type { LoginEvent } from '../../src/oauth/events.js';
import { resolveServerMetadata } from '../../src/oauth/server.js';
import { createHttp } from '../../src/oauth/http.js';
import { type DeviceStandIn, type DeviceStandInOptions, fakeClock, recordingConnection, startDeviceStandIn } from './support.js';

const servers: DeviceStandIn[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function standIn(options: DeviceStandInOptions): Promise<DeviceStandIn> {
  const server = await startDeviceStandIn(options);
  servers.push(server);
  return server;
}

async function metadataOf(server: DeviceStandIn): Promise<Awaited<ReturnType<typeof resolveServerMetadata>>> {
  const provider = {
    id: 'stand-in',
    displayName: 'stand-in',
    issuer: server.issuer,
    clientId: server.clientId,
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

/** Runs the flow on a fake clock; returns the poll times relative to the moment the code was shown. */
async function runOnFakeClock(
  server: DeviceStandIn,
  options: { failFirst?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ pollsAt: number[]; events: LoginEvent[]; sleeps: number[]; result: Promise<unknown> }> {
  const clock = fakeClock();
  const metadata = await metadataOf(server);
  const { connection, requests } = recordingConnection(metadata, server.clientId, clock.now, {
    failFirst: options.failFirst ?? 0,
    failPath: '/token',
  });
  const events: LoginEvent[] = [];
  const result = runDeviceAuthorizationFlow({
    connection,
    scopes: ['openid', 'offline_access'],
    params: { resource: 'https://api.example.test' },
    onEvent: (event) => events.push(event),
    now: clock.now,
    sleep: clock.sleep,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  await result.catch(() => undefined);
  const shownAt = requests.find((r) => r.path === '/device')?.at ?? clock.start;
  return { pollsAt: requests.filter((r) => r.path === '/token').map((r) => r.at - shownAt), events, sleeps: clock.sleeps, result };
}

describe('device authorization polling (RFC 8628 §3.4–3.5) on an injected clock', () => {
  test('no interval given: 5 s; pending keeps the interval, slow_down adds 5 s for good', async () => {
    const server = await standIn({
      answers: ['pending', 'pending', { slowDown: undefined }, 'pending', { slowDown: undefined }, 'pending', 'tokens'],
    });
    const { pollsAt, events, result } = await runOnFakeClock(server);
    const tokens = (await result) as { accessToken: string };
    assert.equal(tokens.accessToken, server.accessToken);
    // First poll one interval after the start; 5, 5, then 10 after the first slow_down, 15 after the second.
    assert.deepEqual(pollsAt, [5_000, 10_000, 15_000, 25_000, 35_000, 50_000, 65_000]);
    const slowDowns = events.filter((e) => e.type === 'device_poll' && e.outcome === 'slow_down');
    assert.deepEqual(
      slowDowns.map((e) => (e.type === 'device_poll' ? e.intervalMs : 0)),
      [10_000, 15_000],
    );
    const request = server.deviceRequests[0];
    assert.equal(request?.get('client_id'), server.clientId);
    assert.equal(request?.get('scope'), 'openid offline_access');
    assert.equal(request?.get('resource'), 'https://api.example.test');
    assert.equal(server.tokenRequests[0]?.get('grant_type'), 'urn:ietf:params:oauth:grant-type:device_code');
  });

  test("the server's interval is used, and a slow_down that names a larger interval takes that one", async () => {
    const server = await standIn({ interval: 2, answers: ['pending', { slowDown: 20 }, 'pending', 'tokens'] });
    const { pollsAt } = await runOnFakeClock(server);
    assert.deepEqual(pollsAt, [2_000, 4_000, 24_000, 44_000]);
  });

  test('connection failures and 5xx answers back off exponentially, capped at a minute, and reset on an answer', async () => {
    const server = await standIn({ interval: 5, answers: ['server_error', 'server_error', 'server_error', 'pending', 'tokens'] });
    // Five refused connections first, then the stand-in's three 503s.
    const { pollsAt, events } = await runOnFakeClock(server, { failFirst: 5 });
    const gaps = pollsAt.map((at, i) => at - (pollsAt[i - 1] ?? 0));
    // 5 s to the first poll; then 10, 20, 40, 60, 60 (cap), 60 (503), 60 (503), then an answer resets to 5.
    assert.deepEqual(gaps, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000, 60_000, 60_000, 5_000]);
    const unreachable = events.filter((e) => e.type === 'device_poll' && e.outcome === 'unreachable');
    assert.equal(unreachable.length, 8);
    assert.match(unreachable[0]?.type === 'device_poll' ? (unreachable[0].message ?? '') : '', /connection refused/);
  });

  test('the code expiring (expires_in) ends polling without another request', async () => {
    const server = await standIn({ interval: 5, expiresIn: 12, answers: ['pending'] });
    const { pollsAt, sleeps, result } = await runOnFakeClock(server);
    await assert.rejects(result, (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.error, 'expired_token');
      assert.match(error.message, /code WDJB-MJHT expired/);
      assert.match(error.message, /Run the login again/);
      return true;
    });
    assert.deepEqual(pollsAt, [5_000, 10_000]);
    assert.deepEqual(sleeps, [5_000, 5_000, 2_000], 'waits out the code, then stops');
  });

  test('--timeout shorter than the code ends polling with a timeout', async () => {
    const server = await standIn({ interval: 5, expiresIn: 600, answers: ['pending'] });
    const { pollsAt, result } = await runOnFakeClock(server, { timeoutMs: 17_000 });
    await assert.rejects(
      result,
      (error: unknown) => error instanceof LoginkitError && error.code === 'timeout' && /within 17 s/.test(error.message),
    );
    assert.deepEqual(pollsAt, [5_000, 10_000, 15_000]);
  });

  test('access_denied and expired_token from the server end polling with a message that says what to do', async () => {
    const denied = await standIn({ interval: 1, answers: ['pending', 'denied'] });
    const deniedRun = await runOnFakeClock(denied);
    await assert.rejects(deniedRun.result, (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.error, 'access_denied');
      assert.match(error.message, /declined on the verification page \(The end-user denied the request\)/);
      assert.match(error.message, /Nothing was stored/);
      return true;
    });
    assert.equal(deniedRun.pollsAt.length, 2);

    const expired = await standIn({ interval: 1, answers: ['expired'] });
    const expiredRun = await runOnFakeClock(expired);
    await assert.rejects(expiredRun.result, (error: unknown) => error instanceof ProviderError && error.error === 'expired_token');
    assert.equal(expiredRun.pollsAt.length, 1);
  });

  test('an aborted signal stops polling at once with an interrupted error', async () => {
    const server = await standIn({ interval: 5, answers: ['pending'] });
    const abort = new AbortController();
    const clock = fakeClock();
    const metadata = await metadataOf(server);
    const { connection } = recordingConnection(metadata, server.clientId, clock.now);
    const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
      if (server.tokenRequests.length >= 2) abort.abort(new LoginkitError('interrupted', 'Sign-in cancelled.'));
      await clock.sleep(ms, signal);
    };
    await assert.rejects(
      runDeviceAuthorizationFlow({ connection, scopes: ['openid'], onEvent: () => undefined, now: clock.now, sleep, signal: abort.signal }),
      (error: unknown) => error instanceof LoginkitError && error.code === 'interrupted' && error.message === 'Sign-in cancelled.',
    );
    assert.equal(server.tokenRequests.length, 2);
  });
});

describe('what the device code prompt shows', () => {
  test('server text is stripped of control characters; a complete URI on another origin is dropped', async () => {
    const server = await standIn({
      userCode: 'ABCD\u001b[2J-\u0007EFGH\u202e',
      verificationUriComplete: 'https://evil.example/device?user_code=ABCD',
      answers: ['tokens'],
    });
    const { events } = await runOnFakeClock(server);
    const shown = events.find((e) => e.type === 'device_code');
    assert.ok(shown?.type === 'device_code');
    assert.doesNotMatch(shown.userCode, /[\u0000-\u001f\u007f-\u009f\u202e]/);
    assert.equal(shown.userCode, 'ABCD [2J- EFGH');
    assert.equal(shown.verificationUri, `${server.issuer}/device`);
    assert.equal(shown.verificationUriComplete, undefined);
    const waiting = events.find((e) => e.type === 'waiting');
    assert.ok(waiting?.type === 'waiting' && waiting.deadline === shown.expiresAt);
  });

  test('a verification address that is not https (or loopback http) is refused', async () => {
    const server = await standIn({ verificationUri: 'javascript:alert(1)', answers: ['tokens'] });
    const { result } = await runOnFakeClock(server);
    await assert.rejects(result, (error: unknown) => error instanceof ProviderError && /verification address/.test(error.message));
    assert.equal(server.tokenRequests.length, 0);
  });
});

describe('device authorization polling in real time', () => {
  test('short intervals: polls one interval apart, then succeeds', async () => {
    const server = await standIn({ interval: 1, answers: ['pending', 'pending', 'tokens'] });
    const metadata = await metadataOf(server);
    const { connection, requests } = recordingConnection(metadata, server.clientId, Date.now);
    const started = Date.now();
    const tokens = await runDeviceAuthorizationFlow({ connection, scopes: ['openid'], onEvent: () => undefined, now: Date.now });
    assert.equal(tokens.accessToken, server.accessToken);
    const polls = requests.filter((r) => r.path === '/token').map((r) => r.at);
    assert.equal(polls.length, 3, 'two pending answers, then the tokens: no extra poll');
    const first = requests.find((r) => r.path === '/device')?.at ?? started;
    const gaps = polls.map((at, i) => at - (polls[i - 1] ?? first));
    // The real sleep waits out the interval before each poll (the exact schedule: the fake-clock tests above).
    for (const gap of gaps) assert.ok(gap >= 990, `gap ${gap} ms is at least the 1 s interval`);
  });
});
