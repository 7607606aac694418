// Bodies a hostile or broken authorization server can send: too large, endless, or stalling after the headers.
// Each ends with a clear error of its own code, and a large body costs no more than the cap: the server sees the
// client stop reading and close the connection.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';

import { LoginkitError, NetworkError, createLoginkit } from '../../src/index.js';
import { MAX_RESPONSE_BODY_BYTES } from '../../src/net/http.js';
import { makeHome } from '../helpers/cli.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';
import { readBody, readStoredEntries, seedStore, sendJson, tokenResponse } from '../lifecycle/support.js';

/** How much a hostile server may push into socket buffers before it notices the client stopped reading. */
const BUFFERS_ALLOWANCE = 32 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

interface Hostile extends HttpServerHandle {
  /** Requests received. */
  requests: number;
  /** Body bytes the server managed to write. */
  written: number;
  /** Resolves when the client has closed the connection of the first request. */
  clientClosed: Promise<void>;
}

const servers: HttpServerHandle[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A server that answers every request through `answer`, counting what it writes and noticing when the client leaves. */
async function hostile(answer: (res: ServerResponse, state: Hostile) => void): Promise<Hostile> {
  let closed!: () => void;
  const state = {
    requests: 0,
    written: 0,
    clientClosed: new Promise<void>((resolve) => (closed = resolve)),
  } as Hostile;
  const server = await startHttpServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then(() => {
      state.requests += 1;
      res.on('close', closed);
      answer(res, state);
    });
  });
  servers.push(server);
  return Object.assign(state, server);
}

/** Writes `CHUNK`s as fast as the client takes them, until `total` bytes or the client leaves. */
function pour(res: ServerResponse, state: Hostile, total = Number.POSITIVE_INFINITY): void {
  const more = (): void => {
    while (!res.destroyed && state.written < total) {
      state.written += CHUNK.length;
      if (!res.write(CHUNK)) return void res.once('drain', more);
    }
    if (!res.destroyed) res.end();
  };
  more();
}

async function expiredSignInAt(server: HttpServerHandle): Promise<string> {
  const home = await makeHome();
  await seedStore(home, [
    { provider: 'demo', tokenEndpoint: `${server.url}/token`, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
  ]);
  return home;
}

function assertTooLarge(error: unknown, server: HttpServerHandle): void {
  assert.ok(error instanceof LoginkitError, String(error));
  assert.equal(error.code, 'response_too_large', error.message);
  assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port} sent an answer larger than 256 KiB`));
}

describe('response bodies are capped', () => {
  test('a 50 MB token response (Content-Length) is refused at the cap and the client closes the connection', async () => {
    const server = await hostile((res, state) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
      pour(res, state, 50 * 1024 * 1024);
    });
    const home = await expiredSignInAt(server);
    const before = await readStoredEntries(home);

    const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } })
      .getToken('demo')
      .catch((e: unknown) => e);
    assertTooLarge(error, server);
    await server.clientClosed;
    assert.ok(server.written < BUFFERS_ALLOWANCE, `the server could write only ${server.written} bytes`);
    assert.equal(server.requests, 1, 'too large is not retried');
    assert.deepEqual(await readStoredEntries(home), before, 'nothing stored');
  });

  test('an endless chunked token response stops at the cap, long before the timeout', async () => {
    const server = await hostile((res, state) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":"');
      pour(res, state);
    });
    const home = await expiredSignInAt(server);

    const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 3_000 })
      .getToken('demo')
      .catch((e: unknown) => e);
    assertTooLarge(error, server);
    await server.clientClosed;
    assert.ok(server.written < BUFFERS_ALLOWANCE, `the server could write only ${server.written} bytes`);
  });

  test('an endless error body (HTTP 400) stops at the cap with the same error', async () => {
    const server = await hostile((res, state) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"error":"invalid_request","error_description":"');
      pour(res, state);
    });
    const home = await expiredSignInAt(server);

    const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 3_000 })
      .getToken('demo')
      .catch((e: unknown) => e);
    assertTooLarge(error, server);
    await server.clientClosed;
    assert.ok(server.written < BUFFERS_ALLOWANCE, `the server could write only ${server.written} bytes`);
  });

  test('an endless discovery document stops at the cap and the sign-in does not start', async () => {
    const server = await hostile((res, state) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"issuer":"');
      pour(res, state);
    });
    const home = await makeHome();
    const kit = createLoginkit({
      home,
      env: { LOGINKIT_STORE: 'file' },
      timeoutMs: 3_000,
      openBrowser: async () => assert.fail('no browser'),
    });
    await kit.addProvider('demo', { type: 'oauth', issuer: server.url, clientId: 'c' });

    const error = await kit.login('demo', { method: 'browser' }).catch((e: unknown) => e);
    assertTooLarge(error, server);
    await server.clientClosed;
  });

  test('an answer just under the cap is read whole', async () => {
    const padding = 'x'.repeat(MAX_RESPONSE_BODY_BYTES - 1024);
    const server = await hostile((res) => sendJson(res, 200, { ...tokenResponse('new-at', 'new-rt'), padding }));
    const home = await expiredSignInAt(server);
    assert.equal(await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).getToken('demo'), 'new-at');
  });
});

describe('bodies that stall', () => {
  test('a body that stalls after the headers is a timeout, not a malformed response', async () => {
    const server = await hostile((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":"new-at",');
    });
    const home = await expiredSignInAt(server);

    const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 500 })
      .getToken('demo')
      .catch((e: unknown) => e);
    assert.ok(error instanceof NetworkError, String(error));
    assert.equal(error.code, 'timeout');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${server.port} did not answer within`));
    assert.doesNotMatch(error.message, /malformed/);
  });
});
