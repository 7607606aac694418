// OpenAI's own device-code sign-in (the protocol of Codex CLI's `login --device-auth`) against a stand-in on loopback.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { ProviderError, SignInTimeoutError } from '../../src/errors.js';
import type { LoginEvent } from '../../src/sign-in/events.js';
import { createHttp } from '../../src/net/http.js';
import { OPENAI_DEVICE_CODE_LIFETIME_MS, openAIDeviceCodeUrls, runOpenAIDeviceCodeFlow } from '../../src/openai/device-code.js';
import { resolveServerMetadata } from '../../src/oauth/server.js';
import { type OpenAIStandIn, type OpenAIStandInOptions, fakeClock, recordingConnection, startOpenAIStandIn } from './support.js';

const servers: OpenAIStandIn[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function standIn(options: OpenAIStandInOptions = {}): Promise<OpenAIStandIn> {
  const server = await startOpenAIStandIn(options);
  servers.push(server);
  return server;
}

async function run(server: OpenAIStandIn, options: { timeoutMs?: number } = {}) {
  const clock = fakeClock();
  const metadata = await resolveServerMetadata(
    {
      id: 'openai',
      displayName: 'OpenAI',
      issuer: server.issuer,
      clientId: server.clientId,
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      redirectUri: 'http://localhost:1455/auth/callback',
      fallbackRedirectPorts: [],
      endpoints: undefined,
      authorizeParams: {},
      jsonBodyEndpoints: true,
      accountClaims: undefined,
    },
    createHttp({ env: {}, timeoutMs: 5_000 }),
    5_000,
  );
  const { connection, requests } = recordingConnection(metadata, server.clientId, clock.now);
  const events: LoginEvent[] = [];
  const result = runOpenAIDeviceCodeFlow({
    connection: { ...connection, jsonBodies: true },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    accountClaims: {
      plan: [['https://api.openai.com/auth', 'chatgpt_plan_type']],
      workspace: [['https://api.openai.com/auth', 'chatgpt_account_id']],
    },
    onEvent: (event) => events.push(event),
    now: clock.now,
    sleep: clock.sleep,
    timeoutMs: options.timeoutMs,
  });
  await result.catch(() => undefined);
  return { result, events, requests, clock };
}

describe("OpenAI's device-code sign-in", () => {
  test('user code, polling (403 while pending, interval sent as text), then the code exchange with the returned PKCE pair', async () => {
    const server = await standIn({ interval: '3', pendingPolls: 2 });
    const { result, events, requests, clock } = await run(server);
    const tokens = await result;
    assert.equal(tokens.accessToken, server.accessToken);
    assert.equal(tokens.account?.email, 'person@example.test');
    assert.equal(tokens.account?.plan, 'plus');
    assert.equal(tokens.account?.workspace, 'acct_standin');

    const calls = server.requests.filter((r) => r.method === 'POST').map((r) => `${r.path} ${r.contentType.split(';')[0]}`);
    assert.deepEqual(calls, [
      '/api/accounts/deviceauth/usercode application/json',
      '/api/accounts/deviceauth/token application/json',
      '/api/accounts/deviceauth/token application/json',
      '/api/accounts/deviceauth/token application/json',
      '/oauth/token application/x-www-form-urlencoded',
    ]);
    assert.deepEqual(server.requests.find((r) => r.path.endsWith('/usercode'))?.body, { client_id: server.clientId });
    const exchange = server.requests.at(-1)?.body ?? {};
    assert.equal(exchange.redirect_uri, `${server.issuer}/deviceauth/callback`);
    assert.equal(exchange.grant_type, 'authorization_code');

    const shownAt = requests.find((r) => r.path.endsWith('/usercode'))?.at ?? clock.start;
    const polls = requests.filter((r) => r.path.endsWith('/deviceauth/token')).map((r) => r.at - shownAt);
    assert.deepEqual(polls, [3_000, 6_000, 9_000]);

    const shown = events.find((e) => e.type === 'device_code');
    assert.ok(shown?.type === 'device_code');
    assert.equal(shown.verificationUri, `${server.issuer}/codex/device`);
    assert.equal(shown.userCode, 'ABCD-12345');
    assert.equal(shown.expiresAt - shownAt, OPENAI_DEVICE_CODE_LIFETIME_MS);
    assert.ok(events.some((e) => e.type === 'exchanging_code'));
  });

  test('a 404 for the user code says device codes are not enabled for the account or workspace, and how else to sign in', async () => {
    const server = await standIn({ disabled: true });
    const { result } = await run(server);
    await assert.rejects(result, (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.error, 'device_code_not_enabled');
      assert.match(error.message, /Device code sign-in is not enabled for this account or workspace/);
      assert.match(error.message, /ChatGPT security settings|workspace admin/);
      assert.match(error.message, /--method browser/);
      return true;
    });
  });

  test('the code expires after 15 minutes of waiting', async () => {
    const server = await standIn({ interval: '60', pendingPolls: 1_000 });
    const { result, requests } = await run(server);
    await assert.rejects(
      result,
      (error: unknown) => error instanceof ProviderError && error.error === 'expired_token' && /15 minutes/.test(error.message),
    );
    assert.equal(requests.filter((r) => r.path.endsWith('/deviceauth/token')).length, 14);
  });

  test('a sign-in nobody completes within timeoutMs ends with the timeout error, which names the library option', async () => {
    const server = await standIn({ interval: '60', pendingPolls: 1_000 });
    const { result } = await run(server, { timeoutMs: 120_000 });
    await assert.rejects(result, (error: unknown) => {
      assert.ok(error instanceof SignInTimeoutError, String(error));
      assert.equal(error.code, 'timeout');
      assert.match(error.message, /within 120 s\.\nSign in again; for more time, set the sign-in's `timeoutMs` option\./);
      assert.doesNotMatch(error.message, /--timeout/);
      return true;
    });
  });

  test('a verifier that does not match its challenge is refused before anything is redeemed', async () => {
    const server = await standIn({ interval: '1', pendingPolls: 0, mismatchedPkce: true });
    const { result } = await run(server);
    await assert.rejects(result, (error: unknown) => error instanceof ProviderError && /does not match its challenge/.test(error.message));
    assert.equal(server.requests.filter((r) => r.path === '/oauth/token').length, 0);
  });

  test('the addresses hang off the issuer as Codex CLI builds them', () => {
    assert.deepEqual(openAIDeviceCodeUrls('https://auth.openai.com/'), {
      userCode: 'https://auth.openai.com/api/accounts/deviceauth/usercode',
      token: 'https://auth.openai.com/api/accounts/deviceauth/token',
      verification: 'https://auth.openai.com/codex/device',
      redirectUri: 'https://auth.openai.com/deviceauth/callback',
    });
  });
});
