// loginkit is a public client and always uses PKCE with S256: a server whose metadata lists PKCE methods without
// S256 is refused before any browser opens. An absent list only means the server does not say (as the MCP
// conformance suite's PKCE scenarios treat it), and hand-configured endpoints never carry one.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { ConfigError, createLoginkit } from '../../src/index.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { makeHome } from '../helpers/cli.js';
import { type ScriptedAuthServer, approvingBrowser, startScriptedAuthServer } from '../helpers/scripted-auth-server.js';

const running: Array<ScriptedAuthServer | AuthServer> = [];
after(async () => {
  await Promise.all(running.map((server) => server.close()));
});

/** Tries to sign in to `demo` at `issuer` (or at the configured endpoints); records the URLs the browser was given. */
async function signIn(issuer: string, clientId: string, endpoints: Record<string, string> = {}) {
  const opened: string[] = [];
  const kit = createLoginkit({
    home: await makeHome(),
    store: 'memory',
    env: {},
    openBrowser: async (url) => {
      opened.push(url);
      await approvingBrowser(url);
    },
  });
  await kit.addProvider('demo', { type: 'oauth', issuer, clientId, ...endpoints });
  // Bounded, so that a server that should have been refused but cannot complete a sign-in fails the test instead of hanging it.
  const outcome = await kit.login('demo', { method: 'browser', timeoutMs: 10_000 }).catch((error: unknown) => error);
  return { outcome, opened };
}

function assertRefused(outcome: unknown, opened: string[]): void {
  assert.ok(outcome instanceof ConfigError, String(outcome));
  assert.match(outcome.message, /Provider "demo": the server does not support PKCE with S256, which loginkit requires/);
  assert.deepEqual(opened, [], 'no browser was opened');
}

describe('a server whose metadata does not list S256', () => {
  for (const methods of [['plain'], []]) {
    test(`discovered from a stand-in listing ${JSON.stringify(methods)}: refused before the browser opens`, async () => {
      const server = await startScriptedAuthServer({ metadata: { code_challenge_methods_supported: methods } });
      running.push(server);
      const { outcome, opened } = await signIn(server.issuer, server.clientId);
      assertRefused(outcome, opened);
      assert.deepEqual(server.requests, [], 'nothing but discovery reached the server');
    });
  }

  test('discovered from oidc-provider advertising only plain: refused before the browser opens', async () => {
    const server = await startAuthServer({ metadataOverrides: { code_challenge_methods_supported: ['plain'] } });
    running.push(server);
    const { outcome, opened } = await signIn(server.issuer, server.clientId);
    assertRefused(outcome, opened);
    assert.ok(
      server.requests.every((request) => request.path.startsWith('/.well-known/')),
      `only discovery was asked: ${JSON.stringify(server.requests)}`,
    );
  });

  test('no list at all (discovered, or hand-configured endpoints): the sign-in goes ahead with S256', async () => {
    const silent = await startScriptedAuthServer({ metadata: { code_challenge_methods_supported: undefined } });
    running.push(silent);
    const configured = await startScriptedAuthServer();
    running.push(configured);
    for (const { outcome, opened } of [
      await signIn(silent.issuer, silent.clientId),
      await signIn(configured.issuer, configured.clientId, {
        authorizationEndpoint: `${configured.issuer}/authorize`,
        tokenEndpoint: `${configured.issuer}/token`,
      }),
    ]) {
      assert.ok(!(outcome instanceof Error), String(outcome));
      assert.equal(opened.length, 1);
      assert.equal(new URL(opened[0] ?? '').searchParams.get('code_challenge_method'), 'S256');
    }
  });
});
