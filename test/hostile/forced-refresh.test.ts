// createFetch after a 401: the forced refresh that follows must either bring a new token or surface why it could
// not. Here it joins a refresh that another request started while the token was merely due, with the token
// server down: that refresh may keep the current token, which is the very token the resource server rejected.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';

import { NetworkError, createLoginkit } from '../../src/index.js';
import { makeHome } from '../helpers/cli.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';
import { readBody, seedStore } from '../lifecycle/support.js';

const MINUTE = 60_000;

const servers: HttpServerHandle[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A promise with its resolve function, for steps one side waits on and the other triggers. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('createFetch: a forced refresh that fails', () => {
  test('after a 401, a forced refresh that joins a refresh failing on a network error surfaces the network error and never resends the rejected token', async () => {
    // Token endpoint: holds the first refresh until told, then drops the connection; drops every later one at once.
    const firstRefreshArrived = signal();
    const dropFirstRefresh = signal();
    let refreshes = 0;
    const tokenServer = await startHttpServer((req: IncomingMessage) => {
      void readBody(req).then(async () => {
        refreshes += 1;
        if (refreshes === 1) {
          firstRefreshArrived.resolve();
          await dropFirstRefresh.promise;
        }
        req.socket.destroy();
      });
    });
    servers.push(tokenServer);

    // Resource server: rejects old-at with 401 (the first request only once told to), accepts anything else.
    const seen: Array<{ path: string; token: string }> = [];
    const firstRequestArrived = signal();
    const answerFirstRequest = signal();
    const resource = await startHttpServer((req: IncomingMessage, res: ServerResponse) => {
      void (async () => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        seen.push({ path: req.url ?? '', token });
        if (seen.length === 1) {
          firstRequestArrived.resolve();
          await answerFirstRequest.promise;
        }
        if (token === 'old-at') res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
        else res.writeHead(200).end('ok');
      })();
    });
    servers.push(resource);

    const home = await makeHome();
    const start = Date.now();
    await seedStore(home, [
      {
        provider: 'demo',
        tokenEndpoint: `${tokenServer.url}/token`,
        accessToken: 'old-at',
        refreshToken: 'old-rt',
        expiresInMs: 60 * MINUTE,
      },
    ]);
    let now = start;
    const rejectedOne = signal();
    const kit = createLoginkit({
      home,
      env: { LOGINKIT_STORE: 'file' },
      now: () => now,
      onWarning: () => undefined,
      // Tells the test when the first request's 401 has reached loginkit.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (new URL(String(input)).pathname !== '/one' || response.status !== 401) return response;
        await response.body?.cancel();
        rejectedOne.resolve();
        return new Response(null, { status: 401, headers: response.headers });
      },
    });
    const authenticated = kit.createFetch('demo');

    // 1. While the token is fresh, request one goes out with it; the resource server holds it.
    const one = authenticated(`${resource.url}/one`).then(
      (response) => ({ status: response.status }),
      (error: unknown) => ({ error }),
    );
    await firstRequestArrived.promise;
    // 2. 57 minutes on, the token is due (3 minutes left) but still valid: request two starts a refresh, which the
    //    token server holds.
    now = start + 57 * MINUTE;
    const two = authenticated(`${resource.url}/two`).catch((error: unknown) => error);
    await firstRefreshArrived.promise;
    // 3. Request one is rejected with 401; its forced refresh joins the refresh under way.
    answerFirstRequest.resolve();
    await rejectedOne.promise;
    await new Promise((resolve) => setImmediate(resolve));
    // 4. The token server drops the connection: the refresh fails on a network error.
    dropFirstRefresh.resolve();

    const outcome = await one;
    assert.ok('error' in outcome, `request one should fail, it got HTTP ${JSON.stringify(outcome)}`);
    assert.ok(outcome.error instanceof NetworkError, `the network error, not ${String(outcome.error)}`);
    assert.equal(outcome.error.code, 'network');
    assert.match(outcome.error.message, new RegExp(`127\\.0\\.0\\.1:${tokenServer.port}`));
    assert.deepEqual(
      seen.filter((request) => request.path === '/one').map((request) => request.token),
      ['old-at'],
      'the rejected token was sent once, not again',
    );
    assert.ok((await two) instanceof NetworkError, 'request two, rejected as well, also ends with the network error');
  });
});
