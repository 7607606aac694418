// Text a server controls (ID token claims, scopes, error descriptions) reaches the terminal and the store only
// without control characters: a hostile server must not write escape sequences to the person's terminal.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { LoginRequiredError, ProviderError, createLoginkit } from '../../src/index.js';
import { makeHome, runCli } from '../helpers/cli.js';
import {
  type ScriptedAuthServer,
  type TokenAnswer,
  approvingBrowser,
  sendJson,
  startScriptedAuthServer,
} from '../helpers/scripted-auth-server.js';
import { readStoredEntries, seedStore } from '../lifecycle/support.js';

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** Control characters but loginkit's own line breaks, for messages (which keep the server's text on one line). */
const CONTROL_IN_MESSAGE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|\nerror: forged/;
const ESCAPES = '\u001b[2J\u001b]0;pwned\u0007\r\n\u202e';

const servers: ScriptedAuthServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function scripted(token?: TokenAnswer): Promise<ScriptedAuthServer> {
  const server = await startScriptedAuthServer(token ? { token } : {});
  servers.push(server);
  return server;
}

/** Every string anywhere inside `value`. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}

function assertClean(value: unknown, where: string): void {
  for (const text of strings(value)) assert.doesNotMatch(text, CONTROL, `${where} holds a control character: ${JSON.stringify(text)}`);
}

function assertCleanMessage(message: string, where: string): void {
  assert.doesNotMatch(message, CONTROL_IN_MESSAGE, `${where} holds a control character: ${JSON.stringify(message)}`);
}

/** A home whose built-in `openai` provider (ChatGPT plan and workspace claims) signs in at `server`. */
async function openaiAt(server: ScriptedAuthServer) {
  const home = await makeHome();
  const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, openBrowser: approvingBrowser });
  await kit.addProvider('openai', { issuer: server.issuer, clientId: server.clientId, redirectUri: 'http://127.0.0.1/auth/callback' });
  return { home, kit };
}

describe('server text in account claims and scopes', () => {
  test('an ID token whose email, name, plan and workspace hold escape sequences and newlines is shown and stored stripped', async () => {
    const server = await scripted(async (_n, body, res, tokens) => {
      if (body.get('grant_type') !== 'authorization_code') return sendJson(res, 400, { error: 'invalid_request' });
      sendJson(
        res,
        200,
        await tokens(
          { scope: `openid ${ESCAPES}offline_access` },
          {
            email: `mallory${ESCAPES}@example.test`,
            name: `Mallory${ESCAPES}Injected: line`,
            'https://api.openai.com/auth': { chatgpt_plan_type: `pro${ESCAPES}`, chatgpt_account_id: `acct${ESCAPES}1` },
          },
        ),
      );
    });
    const { home, kit } = await openaiAt(server);

    const login = await kit.login('openai', { method: 'browser' });
    assertClean(login, 'the login result');
    assert.equal(login.account?.email, 'mallory [2J ]0;pwned @example.test');
    assert.equal(login.account?.plan, 'pro [2J ]0;pwned');
    assert.deepEqual(login.scopes, ['openid', '[2J', ']0;pwned', 'offline_access']);

    const [status] = await kit.status('openai');
    assertClean(status, 'status');
    assert.equal(status?.account, 'mallory [2J ]0;pwned @example.test');
    assert.equal(status?.workspace, 'acct [2J ]0;pwned 1');

    const stored = (await readStoredEntries(home))['openai/default'];
    assertClean({ account: stored?.account, scopes: stored?.scopes, tokenType: stored?.tokenType }, 'the store');
  });

  test('a token response whose access token holds control characters is refused and nothing is stored', async () => {
    const server = await scripted(async (_n, _body, res, tokens) => sendJson(res, 200, await tokens({ access_token: `abc${ESCAPES}def` })));
    const { home, kit } = await openaiAt(server);
    await assert.rejects(kit.login('openai', { method: 'browser' }), (error: unknown) => {
      assert.ok(error instanceof ProviderError, String(error));
      assert.equal(error.error, 'invalid_response');
      assert.match(error.message, /characters no token may contain/);
      return true;
    });
    assert.equal((await readStoredEntries(home).catch(() => ({})))['openai/default' as never], undefined);
  });
});

describe('server text in token and refresh errors', () => {
  const hostileError = { error: `invalid_request${ESCAPES}`, error_description: `Bad${ESCAPES}request\nerror: forged second line` };

  test('a refresh error whose error_description holds escape characters is stripped in the error and on stderr', async () => {
    const server = await scripted((_n, _body, res) => sendJson(res, 400, hostileError));
    const home = await makeHome();
    await seedStore(home, [
      { provider: 'demo', tokenEndpoint: `${server.issuer}/token`, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
    ]);
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });

    await assert.rejects(kit.getToken('demo'), (error: unknown) => {
      assert.ok(error instanceof ProviderError, String(error));
      assertCleanMessage(error.message, 'the refresh error');
      assertClean({ error: error.error, description: error.errorDescription }, 'the refresh error');
      assert.equal(error.errorDescription, 'Bad [2J ]0;pwned request error: forged second line');
      return true;
    });

    const run = await runCli(['token', 'demo'], { home, env: { LOGINKIT_STORE: 'file' } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /Bad \[2J \]0;pwned request error: forged second line/);
    assert.doesNotMatch(run.stderr, /\u001b|\u0007|\r|\u202e/, 'no escape, bell, carriage return or bidi override on stderr');
    assert.equal(run.stderr.split('\n').filter((line) => line.startsWith('error:')).length, 1, 'no forged "error:" line');
  });

  test('an invalid_grant with a hostile description becomes a clean login-required error', async () => {
    const server = await scripted((_n, _body, res) =>
      sendJson(res, 400, { error: 'invalid_grant', error_description: `revoked${ESCAPES}` }),
    );
    const home = await makeHome();
    await seedStore(home, [
      { provider: 'demo', tokenEndpoint: `${server.issuer}/token`, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
    ]);
    const error = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } })
      .getToken('demo')
      .catch((e: unknown) => e);
    assert.ok(error instanceof LoginRequiredError, String(error));
    assertCleanMessage(error.message, 'the login-required error');
    assertCleanMessage((error.cause as ProviderError).message, 'its cause');
  });

  test('a code exchange error whose error_description holds escape characters is stripped in the error', async () => {
    const server = await scripted((_n, _body, res) => sendJson(res, 400, hostileError));
    const { kit } = await openaiAt(server);
    await assert.rejects(kit.login('openai', { method: 'browser' }), (error: unknown) => {
      assert.ok(error instanceof ProviderError, String(error));
      assertCleanMessage(error.message, 'the sign-in error');
      assertClean({ error: error.error, description: error.errorDescription }, 'the sign-in error');
      assert.match(error.message, /Bad \[2J \]0;pwned request error: forged second line/);
      return true;
    });
  });
});
