// createFetch against a real oidc-provider (refresh token rotation on) and a resource server on loopback that
// checks Bearer tokens at the provider's userinfo endpoint, the way an API gateway would.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AccessDeniedError, createLoginkit, type Loginkit } from '../../src/index.js';
import type { AuthServer } from '../helpers/auth-server.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';
import { readBody, readStoredEntries } from './support.js';

const PROVIDER = 'demo';

interface ResourceRequest {
  method: string;
  token: string;
  body: string;
}

/** What the resource server does with request number `n` (from 1) carrying `token`. */
type Behaviour = (n: number, token: string) => Promise<{ status: number; headers?: Record<string, string> } | 'check'>;

describe('createFetch with a resource server that rejects tokens', () => {
  const fixture = useSignInServer({ accessTokenTtl: 3600, rotateRefreshTokens: true });
  let server: AuthServer;
  let resource: HttpServerHandle;
  let home: string;
  let kit: Loginkit;
  let seen: ResourceRequest[] = [];
  let behaviour: Behaviour = async () => 'check';

  /** Whether the provider's userinfo endpoint accepts `token`. */
  const tokenIsValid = async (token: string): Promise<boolean> =>
    (await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).ok;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    seen.push({ method: req.method ?? '', token, body });
    const decision = await behaviour(seen.length, token);
    if (decision !== 'check') {
      res.writeHead(decision.status, decision.headers ?? {}).end();
      return;
    }
    if (!(await tokenIsValid(token))) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token", error_description="unknown or expired token"' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
  };

  before(async () => {
    server = fixture.server;
    resource = await startHttpServer((req, res) => void handle(req, res));
    home = await fixture.signedInHome(PROVIDER);
    kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
  });
  after(async () => {
    await resource.close();
  });
  beforeEach(() => {
    seen = [];
    behaviour = async () => 'check';
  });

  const storedAccessToken = async (): Promise<string> => String((await readStoredEntries(home))[`${PROVIDER}/default`]?.accessToken);
  const rejectFirst: Behaviour = async (n) =>
    n === 1 ? { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } } : 'check';

  test('a valid token is sent as Bearer and nothing is refreshed', async () => {
    const refreshes = server.stats.refreshGrants;
    const response = await kit.createFetch(PROVIDER)(`${resource.url}/api`);
    assert.equal(response.status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.token, await storedAccessToken());
    assert.equal(server.stats.refreshGrants, refreshes);
  });

  test('401 once: exactly one refresh, exactly one retry with the new token, the POST body replayed', async () => {
    behaviour = rejectFirst;
    const refreshes = server.stats.refreshGrants;
    const oldToken = await storedAccessToken();
    const body = JSON.stringify({ prompt: 'hello', n: 1 });

    const response = await kit.createFetch(PROVIDER)(`${resource.url}/v1/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { echo: body }, 'the retried request carried the body');
    assert.equal(server.stats.refreshGrants, refreshes + 1, 'exactly one refresh');
    assert.equal(seen.length, 2, 'exactly one retry');
    assert.deepEqual(
      seen.map((r) => [r.method, r.body]),
      [
        ['POST', body],
        ['POST', body],
      ],
    );
    assert.equal(seen[0]?.token, oldToken);
    assert.notEqual(seen[1]?.token, oldToken, 'the retry used a new token');
    assert.equal(seen[1]?.token, await storedAccessToken(), 'the new token was stored');
    assert.equal(server.stats.grantsRevoked, 0);

    // The next call uses the stored new token directly.
    const again = await kit.createFetch(PROVIDER)(`${resource.url}/v1/complete`);
    assert.equal(again.status, 200);
    assert.equal(server.stats.refreshGrants, refreshes + 1);
  });

  test('URLSearchParams and byte bodies are replayed too', async () => {
    for (const body of [new URLSearchParams({ a: '1', b: 'two' }), new TextEncoder().encode('raw bytes')]) {
      seen = [];
      behaviour = rejectFirst;
      const response = await kit.createFetch(PROVIDER)(`${resource.url}/upload`, { method: 'POST', body });
      assert.equal(response.status, 200);
      assert.equal(seen.length, 2);
      assert.equal(seen[1]?.body, seen[0]?.body);
      assert.notEqual(seen[1]?.body, '');
    }
  });

  test('concurrent requests that all get 401 share one refresh', async () => {
    const oldToken = await storedAccessToken();
    behaviour = async (_n, token) =>
      token === oldToken ? { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } } : 'check';
    const refreshes = server.stats.refreshGrants;
    const authenticated = kit.createFetch(PROVIDER);

    const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => authenticated(`${resource.url}/item/${i}`)));
    assert.deepEqual(
      responses.map((r) => r.status),
      Array(6).fill(200),
    );
    assert.equal(server.stats.refreshGrants, refreshes + 1, 'one refresh for all six');
    assert.equal(seen.length, 12, 'each request retried exactly once');
    assert.equal(server.stats.grantsRevoked, 0, 'no refresh token was reused');
  });

  test('a streaming body is not retried: 401 becomes an invalid_token error, and no refresh', async () => {
    behaviour = rejectFirst;
    const refreshes = server.stats.refreshGrants;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    await assert.rejects(
      kit.createFetch(PROVIDER)(`${resource.url}/stream`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit),
      (error: unknown) => {
        assert.ok(error instanceof AccessDeniedError, String(error));
        assert.equal(error.code, 'invalid_token');
        assert.equal(error.status, 401);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${resource.port}`));
        return true;
      },
    );
    assert.equal(seen.length, 1, 'sent once');
    assert.equal(seen[0]?.body, 'streamed');
    assert.equal(server.stats.refreshGrants, refreshes);
  });

  test('401 twice: one refresh, one retry, then an invalid_token error', async () => {
    behaviour = async () => ({
      status: 401,
      headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="audience mismatch"' },
    });
    const refreshes = server.stats.refreshGrants;
    await assert.rejects(kit.createFetch(PROVIDER)(`${resource.url}/api`, { method: 'POST', body: 'x' }), (error: unknown) => {
      assert.ok(error instanceof AccessDeniedError, String(error));
      assert.equal(error.code, 'invalid_token');
      assert.match(error.message, /audience mismatch/);
      assert.match(error.message, /loginkit login/);
      return true;
    });
    assert.equal(seen.length, 2);
    assert.equal(server.stats.refreshGrants, refreshes + 1);
    // The refreshed credential is still good for the provider itself.
    assert.equal(await tokenIsValid(await storedAccessToken()), true);
  });

  test('403 insufficient_scope: an insufficient_scope error, no refresh, no retry', async () => {
    behaviour = async () => ({ status: 403, headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="models:write"' } });
    const refreshes = server.stats.refreshGrants;
    await assert.rejects(kit.createFetch(PROVIDER)(`${resource.url}/admin`), (error: unknown) => {
      assert.ok(error instanceof AccessDeniedError, String(error));
      assert.equal(error.code, 'insufficient_scope');
      assert.equal(error.status, 403);
      return true;
    });
    assert.equal(seen.length, 1);
    assert.equal(server.stats.refreshGrants, refreshes);
  });

  test('a plain 403 (no Bearer challenge) is handed back as a response', async () => {
    behaviour = async () => ({ status: 403 });
    const response = await kit.createFetch(PROVIDER)(`${resource.url}/forbidden`);
    assert.equal(response.status, 403);
    assert.equal(seen.length, 1);
  });

  test('the refresh token was rotated along the way and the grant is intact', async () => {
    assert.ok(server.stats.refreshGrants >= 3);
    assert.equal(server.stats.grantsRevoked, 0);
    const client = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(await tokenIsValid(await client.getToken(PROVIDER)), true);
  });
});
