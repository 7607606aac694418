import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import type { AuthServer } from '../helpers/auth-server.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';

const CODEX_CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann';
const ENV = { LOGINKIT_STORE: 'file' };
const EXCHANGED_KEY = 'sk-proj-EXCHANGEDFROMCHATGPTSIGNIN0000000000Zq9w';

/** A home where the built-in `openai` preset points at the local server (the only override). */
async function openAiHome(server: AuthServer): Promise<string> {
  const home = await makeHome();
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { openai: { issuer: server.issuer } } }), { mode: 0o600 });
  return home;
}

/**
 * The preset's callback ports are fixed (Codex CLI's registration): when another program (another test run on
 * this machine, say) holds one, these tests cannot run here, which is not a failure of loginkit.
 */
async function skipUnlessPortsFree(t: TestContext, ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const holder = await holdPort(port).catch((error: NodeJS.ErrnoException) => error);
    if (holder instanceof Error) {
      t.skip(`port ${port} is in use on this machine (${holder.code ?? holder.message}); the ChatGPT preset needs it free`);
      return false;
    }
    await new Promise((resolve) => holder.close(resolve));
  }
  return true;
}

function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const holder = createServer();
    holder.once('error', reject);
    holder.listen(port, '127.0.0.1', () => resolve(holder));
  });
}

describe('OpenAI: Sign in with ChatGPT (the Codex CLI preset) against a local server with OpenAI claims', () => {
  const fixture = useSignInServer({
    clientId: CODEX_CLIENT_ID,
    redirectUris: ['http://localhost/auth/callback'],
    acceptJsonBodies: true,
    tokenExchangeApiKey: EXCHANGED_KEY,
    extraIdTokenClaims: { 'https://api.openai.com/auth': { chatgpt_plan_type: 'pro', chatgpt_account_id: 'ws-4242' } },
  });

  test('port 1455, the extra parameters, status with email, plan and account; refresh and revoke with JSON bodies', async (t) => {
    if (!(await skipUnlessPortsFree(t, [1455]))) return;
    const { server } = fixture;
    const home = await openAiHome(server);
    const browser = fixture.browser().command;
    const login = await runCli(['login', 'openai', '--oauth', '--json'], { home, env: { ...ENV, BROWSER: browser } });
    assert.equal(login.code, 0, login.stderr);
    const urlLine = login.stderr.split('\n').find((line) => line.startsWith(`${server.issuer}/`));
    assert.ok(urlLine);
    const url = new URL(urlLine);
    assert.equal(url.searchParams.get('client_id'), CODEX_CLIENT_ID);
    assert.equal(url.searchParams.get('redirect_uri'), 'http://localhost:1455/auth/callback');
    assert.equal(url.searchParams.get('scope'), 'openid profile email offline_access');
    assert.equal(url.searchParams.get('id_token_add_organizations'), 'true');
    assert.equal(url.searchParams.get('codex_cli_simplified_flow'), 'true');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');

    const status = await runCli(['status', 'openai', '--json'], { home, env: ENV });
    const [entry] = (JSON.parse(status.stdout) as { providers: Array<Record<string, unknown>> }).providers;
    const { schemaVersion, ...signedIn } = JSON.parse(login.stdout) as Record<string, unknown>;
    assert.equal(schemaVersion, 1);
    assert.deepEqual(Object.keys(signedIn).sort(), Object.keys(entry ?? {}).sort(), 'login --json has the fields of a status entry');
    assert.deepEqual(signedIn, entry, '…in the same shapes');
    assert.equal(entry?.account, 'alice@example.test');
    assert.equal(entry?.plan, 'pro');
    assert.equal(entry?.workspace, 'ws-4242');
    const text = await runCli(['status', 'openai'], { home, env: ENV });
    assert.match(text.stdout, /plan: pro, account: ws-4242/);
    assert.equal(server.stats.tokenExchanges, 1, 'the sign-in was traded for an API key');
    assert.equal(entry?.key, 'sk-pro…Zq9w');
    assert.ok(!(login.stderr + login.stdout + status.stdout + text.stdout).includes(EXCHANGED_KEY));
    const sdkOptions = await createLoginkit({ home, env: ENV }).openaiOptions();
    assert.equal(await sdkOptions.apiKey(), EXCHANGED_KEY, "the SDK's own key is the exchanged API key, not the ChatGPT access token");

    const probe = 'process.stdout.write(JSON.stringify([process.env.OPENAI_API_KEY, (process.env.OPENAI_ACCESS_TOKEN ?? "").length > 0]))';
    // `exec` as a process: its child writes to the real stdout.
    const exec = await runCliProcess(['exec', 'openai', '--', process.execPath, '-e', probe], { home, env: ENV });
    assert.equal(exec.code, 0, exec.stderr);
    assert.deepEqual(JSON.parse(exec.stdout), [EXCHANGED_KEY, true]);

    await expireStoredToken(home, 'openai');
    const jsonBefore = server.stats.jsonBodies;
    const token = await runCli(['token', 'openai'], { home, env: ENV });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(server.stats.refreshGrants, 1);
    assert.equal(server.stats.jsonBodies, jsonBefore + 1, 'the refresh went as JSON');
    const afterRefresh = JSON.parse((await runCli(['status', 'openai', '--json'], { home, env: ENV })).stdout) as {
      providers: Array<Record<string, unknown>>;
    };
    assert.equal(afterRefresh.providers[0]?.plan, 'pro', 'plan kept after refresh');

    const logout = await runCli(['logout', 'openai'], { home, env: ENV });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stderr, /revoked at the server/);
    assert.ok(server.stats.jsonBodies >= jsonBefore + 3, 'revocations went as JSON');
  });

  test('when 1455 is busy the login uses 1457 and says which process holds 1455', async (t) => {
    if (!(await skipUnlessPortsFree(t, [1455, 1457]))) return;
    const { server } = fixture;
    const holder = await holdPort(1455);
    try {
      const home = await openAiHome(server);
      const browser = fixture.browser().command;
      const login = await runCli(['login', 'openai', '--oauth'], { home, env: { ...ENV, BROWSER: browser } });
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stderr, new RegExp(`Port 1455 is in use by node \\(pid ${process.pid}\\); using 1457`));
      const urlLine = login.stderr.split('\n').find((line) => line.startsWith(`${server.issuer}/`)) ?? '';
      assert.equal(new URL(urlLine).searchParams.get('redirect_uri'), 'http://localhost:1457/auth/callback');
    } finally {
      holder.close();
    }
  });
});
