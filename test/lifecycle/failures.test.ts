// Refresh against token endpoints that fail in the ways real ones do: each ends after a bounded number of
// attempts, with a clear error, or succeeds as designed. Through the public API, then through the CLI.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createLoginkit, LoginRequiredError, NetworkError, ProviderError, type LoginkitOptions } from '../../src/index.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';
import {
  STORE,
  credentialEntry,
  lines,
  readBody,
  readStoredEntries,
  refusedPort,
  seedStore,
  sendJson,
  storeBytes,
  tokenResponse,
} from './support.js';

const PROVIDER = 'demo';
const MINUTE = 60_000;

interface Seen {
  at: number;
  body: URLSearchParams;
}

/** A token endpoint stand-in that records every request and answers with `answer(n)` (n counts from 1). */
async function tokenEndpoint(
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<HttpServerHandle & { seen: Seen[]; endpoint: string }> {
  const seen: Seen[] = [];
  const server = await startHttpServer((req, res) => {
    void readBody(req).then(async (body) => {
      seen.push({ at: Date.now(), body: new URLSearchParams(body) });
      await answer(seen.length, req, res);
    });
  });
  servers.push(server);
  return { ...server, seen, endpoint: `${server.url}/token` };
}

const servers: HttpServerHandle[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A home whose `demo` credential points at `endpoint`; expired unless `expiresInMs` says otherwise. */
async function homeWith(endpoint: string, expiresInMs = -MINUTE): Promise<string> {
  const home = await makeHome();
  await seedStore(home, [{ provider: PROVIDER, tokenEndpoint: endpoint, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs }]);
  return home;
}

function kit(home: string, options: Omit<LoginkitOptions, 'home' | 'env'> = {}) {
  const warnings: string[] = [];
  const client = createLoginkit({
    home,
    env: { LOGINKIT_STORE: 'file' },
    onWarning: (message) => warnings.push(message),
    ...options,
  });
  return { client, warnings };
}

/**
 * Counts the connections undici failed to open to `port` while `work` runs (its diagnostics channel): the
 * attempts made against a port where nothing listens.
 */
async function countingRefusedConnections<T>(port: number, work: () => Promise<T>): Promise<{ attempts: number; outcome: T }> {
  let attempts = 0;
  const onConnectError = (message: unknown): void => {
    const params = (message as { connectParams?: { port?: unknown } }).connectParams;
    if (String(params?.port) === String(port)) attempts += 1;
  };
  subscribe('undici:client:connectError', onConnectError);
  try {
    const outcome = await work();
    return { attempts, outcome };
  } finally {
    unsubscribe('undici:client:connectError', onConnectError);
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T | undefined; error: unknown }> {
  const started = Date.now();
  try {
    const result = await work();
    return { ms: Date.now() - started, result, error: undefined };
  } catch (error) {
    return { ms: Date.now() - started, result: undefined, error };
  }
}

describe('refresh failures, in process', () => {
  test('connection refused: a network error naming the host, after a few quick retries', async () => {
    const port = await refusedPort();
    const home = await homeWith(`http://127.0.0.1:${port}/token`);
    const before = await readFile(join(home, STORE));
    const { client } = kit(home);

    const {
      attempts,
      outcome: { error },
    } = await countingRefusedConnections(port, () => timed(() => client.getToken(PROVIDER)));
    assert.ok(error instanceof NetworkError, `a NetworkError, got ${String(error)}`);
    assert.equal(error.code, 'network');
    assert.equal(error.host, `127.0.0.1:${port}`);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(error.message, /connection refused/);
    assert.equal(attempts, 4, 'the retry policy: 4 attempts, then it gives up');
    assert.deepEqual(await readFile(join(home, STORE)), before, 'the stored credential is left as it was');
  });

  // The bound given as an option, or through the environment: each attempt is cut there, and there are at most 4.
  for (const { name, options, env, boundMs, shown } of [
    {
      name: 'a server that never answers: a timeout error within the configured bound',
      options: { timeoutMs: 500 },
      env: {},
      boundMs: 500,
      shown: '1 s',
    },
    // Rounded to whole seconds in the message: 0.4 s, not the 30 s default.
    {
      name: 'LOGINKIT_HTTP_TIMEOUT bounds the wait when no option is given',
      options: {},
      env: { LOGINKIT_HTTP_TIMEOUT: '0.4' },
      boundMs: 400,
      shown: '0 s',
    },
  ]) {
    test(name, async () => {
      const server = await tokenEndpoint(() => undefined);
      const home = await homeWith(server.endpoint);
      const client = createLoginkit({ home, env: { LOGINKIT_STORE: 'file', ...env }, ...options });

      const { ms, error } = await timed(() => client.getToken(PROVIDER));
      assert.ok(error instanceof NetworkError, `a NetworkError, got ${String(error)}`);
      assert.equal(error.code, 'timeout');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
      assert.ok(server.seen.length >= 1 && server.seen.length <= 4, `bounded attempts, saw ${server.seen.length}`);
      assert.ok(ms >= boundMs, `waited the timeout (${ms} ms)`);
      assert.match(error.message, new RegExp(`did not answer within ${shown}`), 'the configured bound, not the 30 s default');
    });
  }

  // Regression: undici's Response is not the global Response class, so 5xx and 429 answers without an OAuth
  // error body were once taken for malformed responses and not retried.
  test('503, 503, then a token: succeeds after two retries and persists the new tokens', async () => {
    const server = await tokenEndpoint((n, _req, res) => {
      if (n === 1) res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      else if (n === 2) sendJson(res, 503, { error: 'temporarily_unavailable' });
      else sendJson(res, 200, tokenResponse('new-at', 'new-rt'));
    });
    const home = await homeWith(server.endpoint);
    const { client, warnings } = kit(home);

    const { result, error } = await timed(() => client.getToken(PROVIDER));
    assert.equal(error, undefined);
    assert.equal(result, 'new-at');
    assert.equal(server.seen.length, 3, 'exactly three token requests');
    for (const { body } of server.seen) {
      assert.equal(body.get('grant_type'), 'refresh_token');
      assert.equal(body.get('refresh_token'), 'old-rt', 'every attempt redeems the same refresh token');
      assert.equal(body.get('scope'), null, 'never asks for more scope');
    }
    assert.deepEqual(warnings, []);
    const stored = (await readStoredEntries(home))[`${PROVIDER}/default`];
    assert.equal(stored?.accessToken, 'new-at', 'the new access token is stored before it is returned');
    assert.equal(stored?.refreshToken, 'new-rt');
    // A new client (a new process, in effect) uses the stored token without another refresh.
    assert.equal(await kit(home).client.getToken(PROVIDER), 'new-at');
    assert.equal(server.seen.length, 3);
  });

  test('a response without a new refresh token keeps the old one', async () => {
    const server = await tokenEndpoint((_n, _req, res) => sendJson(res, 200, tokenResponse('new-at')));
    const home = await homeWith(server.endpoint);
    assert.equal(await kit(home).client.getToken(PROVIDER), 'new-at');
    const stored = (await readStoredEntries(home))[`${PROVIDER}/default`];
    assert.equal(stored?.refreshToken, 'old-rt');
  });

  for (const { name, answer429 } of [
    {
      name: '429 with Retry-After: 1 waits at least a second before trying again',
      answer429: (res: ServerResponse) => res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '1' }).end('Too Many Requests'),
    },
    {
      name: '429 with a JSON error body and Retry-After is honoured the same way',
      answer429: (res: ServerResponse) => sendJson(res, 429, { error: 'slow_down' }, { 'retry-after': '1' }),
    },
  ]) {
    test(name, async () => {
      const server = await tokenEndpoint((n, _req, res) => {
        if (n === 1) answer429(res);
        else sendJson(res, 200, tokenResponse('new-at', 'new-rt'));
      });
      const home = await homeWith(server.endpoint);

      assert.equal(await kit(home).client.getToken(PROVIDER), 'new-at');
      assert.equal(server.seen.length, 2);
      const pause = (server.seen[1]?.at ?? 0) - (server.seen[0]?.at ?? 0);
      assert.ok(pause >= 950, `waited ${pause} ms after Retry-After: 1`);
    });
  }

  test('malformed JSON: a clear error at once, no retry storm, nothing stored', async () => {
    const server = await tokenEndpoint((_n, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
    });
    const home = await homeWith(server.endpoint);
    const before = await readFile(join(home, STORE));

    const { error } = await timed(() => kit(home).client.getToken(PROVIDER));
    assert.ok(error instanceof ProviderError, `a ProviderError, got ${String(error)}`);
    assert.match(error.message, /malformed/);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port}`), 'names the host');
    assert.match(error.message, /demo/, 'names the provider');
    assert.equal(server.seen.length, 1, 'a malformed 200 is not retried');
    assert.deepEqual(await readFile(join(home, STORE)), before);
  });

  test('invalid_grant: login required, naming the provider and the command; the credential is not erased', async () => {
    const server = await tokenEndpoint((_n, _req, res) => {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
    });
    const home = await homeWith(server.endpoint);
    const before = await readFile(join(home, STORE));

    const { error } = await timed(() => kit(home).client.getToken(PROVIDER));
    assert.ok(error instanceof LoginRequiredError, `a LoginRequiredError, got ${String(error)}`);
    assert.equal(error.code, 'login_required');
    assert.equal(error.providerId, PROVIDER);
    assert.match(error.message, /"demo"/);
    assert.match(error.message, /loginkit login demo/);
    assert.equal(server.seen.length, 1, 'invalid_grant is final, not retried');
    assert.deepEqual(await readFile(join(home, STORE)), before, 'the store is left as it was');
  });

  test('invalid_grant after another process stored newer tokens: the newer tokens are used and kept', async () => {
    let home = '';
    const server = await tokenEndpoint(async (_n, _req, res) => {
      // Meanwhile, another process signed in again (a login takes only the store's write lock).
      const fresh = credentialEntry({
        provider: PROVIDER,
        tokenEndpoint: 'http://127.0.0.1:1/token',
        accessToken: 'other-at',
        refreshToken: 'other-rt',
        expiresInMs: 60 * MINUTE,
      });
      const temporary = join(home, '.other-process.tmp');
      await writeFile(temporary, storeBytes({ [`${PROVIDER}/default`]: fresh }), { mode: 0o600 });
      await rename(temporary, join(home, STORE));
      sendJson(res, 400, { error: 'invalid_grant' });
    });
    home = await homeWith(server.endpoint);

    assert.equal(await kit(home).client.getToken(PROVIDER), 'other-at');
    const stored = (await readStoredEntries(home))[`${PROVIDER}/default`];
    assert.equal(stored?.accessToken, 'other-at');
    assert.equal(stored?.refreshToken, 'other-rt', 'the newer credential is not overwritten');
  });

  test('refresh due but the access token still valid, server down: the current token with a warning', async () => {
    const port = await refusedPort();
    // Issued 58 minutes ago for an hour: less than 5 minutes left, so due, but not expired.
    const home = await homeWith(`http://127.0.0.1:${port}/token`, 2 * MINUTE);
    const before = await readFile(join(home, STORE));
    const { client, warnings } = kit(home);

    const {
      attempts,
      outcome: { result, error },
    } = await countingRefusedConnections(port, () => timed(() => client.getToken(PROVIDER)));
    assert.equal(error, undefined);
    assert.equal(result, 'old-at');
    assert.equal(warnings.length, 1, `one warning: ${JSON.stringify(warnings)}`);
    assert.match(warnings[0] ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(warnings[0] ?? '', /current access token/);
    assert.equal(attempts, 4, 'retried up to the policy (4 attempts), then the current token');
    assert.deepEqual(await readFile(join(home, STORE)), before);
  });

  test('refresh due, token still valid, server answers 500: also the current token with a warning', async () => {
    const server = await tokenEndpoint((_n, _req, res) => sendJson(res, 500, { error: 'server_error' }));
    const home = await homeWith(server.endpoint, 2 * MINUTE);
    const { client, warnings } = kit(home);
    assert.equal(await client.getToken(PROVIDER), 'old-at');
    assert.equal(server.seen.length, 4, 'retried up to the policy (4 attempts)');
    assert.equal(warnings.length, 1);
  });
});

describe('refresh failures, through the CLI', () => {
  test('token with the server down and an expired token: exit 1, a short message naming the host', async () => {
    const port = await refusedPort();
    const home = await homeWith(`http://127.0.0.1:${port}/token`);
    const { attempts, outcome: run } = await countingRefusedConnections(port, () =>
      runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 20_000 }),
    );
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '', 'nothing on stdout');
    const errorLines = lines(run.stderr);
    assert.ok(errorLines.length >= 1 && errorLines.length <= 2, `one or two lines:\n${run.stderr}`);
    assert.match(errorLines[0] ?? '', /^error: /);
    assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(run.stderr, /old-at|old-rt/, 'no secret in the message');
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(attempts, 4, 'gave up after the 4 attempts of the retry policy');
  });

  test('token with the server down and a still-valid token: prints the token, warns on stderr', async () => {
    const port = await refusedPort();
    const home = await homeWith(`http://127.0.0.1:${port}/token`, 2 * MINUTE);
    const run = await runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 20_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'old-at\n', 'only the token on stdout');
    assert.match(run.stderr, /^warning: .*127\.0\.0\.1:\d+/m);
    assert.doesNotMatch(run.stderr, /old-at|old-rt/);
  });

  test('token against a server that answers 502 once: retried, prints the new token, no warning', async () => {
    const server = await tokenEndpoint((n, _req, res) => {
      if (n === 1) res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      else sendJson(res, 200, tokenResponse('new-at', 'new-rt'));
    });
    const home = await homeWith(server.endpoint);
    const run = await runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'new-at\n');
    assert.equal(run.stderr, '');
    assert.equal(server.seen.length, 2);
  });

  test('token after invalid_grant: exit 3 with the command to run', async () => {
    const server = await tokenEndpoint((_n, _req, res) => sendJson(res, 400, { error: 'invalid_grant' }));
    const home = await homeWith(server.endpoint);
    const run = await runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 3, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /loginkit login demo/);
  });

  test('token against a hanging server with LOGINKIT_HTTP_TIMEOUT=1: exit 1 within the bound', async () => {
    const server = await tokenEndpoint(() => undefined);
    const home = await homeWith(server.endpoint);
    const run = await runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file', LOGINKIT_HTTP_TIMEOUT: '1' }, timeoutMs: 30_000 });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /did not answer/);
    assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
    // Every attempt was cut after LOGINKIT_HTTP_TIMEOUT: the 30 s default would leave room for one in the 20 s budget.
    assert.equal(server.seen.length, 4, 'all 4 attempts of the retry policy, each cut short');
  });
});
