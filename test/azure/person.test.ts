// A person signs in to Microsoft Entra ID (a stand-in tenant: oidc-provider with Entra ID's paths and rotating
// refresh tokens), and Azure OpenAI (a stand-in that honours only tokens the tenant issued) is used through the
// `openai` package's AzureOpenAI, `exec`, and `token`, with no key anywhere.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AzureOpenAI } from 'openai';
import { createAzure } from '@ai-sdk/azure';
import { getBearerTokenProvider } from '@azure/identity';
import { generateText } from 'ai';

import { createLoginkit, type Loginkit } from '../../src/index.js';
import { makeHome, runCli, startCli } from '../helpers/cli.js';
import { completeDeviceSignInOverHttp, signInOverHttp } from '../helpers/person.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';
import { readStoredEntries } from '../lifecycle/support.js';
import {
  AZURE_CLI_CLIENT_ID,
  COGNITIVE_SCOPE,
  type AzureOpenAIStandIn,
  type EntraPersonStandIn,
  startAzureOpenAI,
  startEntraForPerson,
} from '../helpers/azure-stand-ins.js';

const ID = 'azure';
const MANAGEMENT_SCOPE = 'https://management.azure.com/.default';

describe('Microsoft Entra ID: a person signs in', () => {
  let entra: EntraPersonStandIn;
  let openai: AzureOpenAIStandIn;
  before(async () => {
    entra = await startEntraForPerson({ deviceInterval: 1 });
    openai = await startAzureOpenAI((token) => entra.honours(token));
  });
  after(async () => {
    await openai.close();
    await entra.close();
  });

  const env = (): Record<string, string> => ({ LOGINKIT_STORE: 'file', AZURE_AUTHORITY_HOST: entra.authorityHost });

  /** A home with the provider, signed in through the library with the browser handed to the HTTP person. */
  async function signedIn(clock?: { now: number }): Promise<{ home: string; kit: Loginkit }> {
    const home = await makeHome();
    const kit = createLoginkit({
      home,
      env: env(),
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
      ...(clock ? { now: () => clock.now } : {}),
    });
    await kit.addProvider(ID, { type: 'azure', tenant: entra.tenant, endpoint: openai.url });
    await kit.login(ID);
    return { home, kit };
  }

  test('browser sign-in with PKCE at the tenant, then AzureOpenAI calls with the token: no key anywhere', async () => {
    const home = await makeHome();
    const kit = createLoginkit({
      home,
      env: env(),
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
    });
    await kit.addProvider(ID, { type: 'azure', tenant: entra.tenant, endpoint: openai.url });
    const result = await kit.login(ID);
    assert.equal(result.method, 'azure');
    assert.equal(result.account?.subject, 'alice');

    const authorization = entra.server.authorizationRequests.at(-1);
    assert.ok(authorization);
    assert.equal(authorization.get('client_id'), AZURE_CLI_CLIENT_ID, "the Azure CLI's public client by default");
    assert.equal(authorization.get('code_challenge_method'), 'S256');
    assert.deepEqual(authorization.get('scope')?.split(' '), [COGNITIVE_SCOPE, 'offline_access', 'openid', 'profile']);
    assert.match(authorization.get('redirect_uri') ?? '', /^http:\/\/localhost:\d+\/$/);

    const client = new AzureOpenAI({ ...(await kit.azureOpenAIOptions(ID)), apiVersion: '2024-10-21', deployment: 'gpt-4o' });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]?.message.content, 'hello from Azure OpenAI');
    assert.equal(openai.accepted.at(-1), await kit.getToken(ID));

    const azure = createAzure(await kit.azureAISdkSettings(ID));
    const { text } = await generateText({ model: azure.chat('gpt-4o'), prompt: 'hi' });
    assert.equal(text, 'hello from Azure OpenAI');
    assert.equal(openai.apiKeys, 0, 'no api-key header was sent');
  });

  test('@azure/identity as the consumer: getBearerTokenProvider over kit.azureCredential, for AzureOpenAI', async () => {
    const { kit } = await signedIn();
    const azureADTokenProvider = getBearerTokenProvider(kit.azureCredential(ID), COGNITIVE_SCOPE);
    const client = new AzureOpenAI({ azureADTokenProvider, endpoint: openai.url, apiVersion: '2024-10-21', deployment: 'gpt-4o' });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]?.message.content, 'hello from Azure OpenAI');
    assert.equal(openai.accepted.at(-1), await kit.getToken(ID));
    const token = await kit.azureCredential(ID).getToken([COGNITIVE_SCOPE]);
    assert.equal(token.tokenType, 'Bearer');
    assert.ok(token.refreshAfterTimestamp < token.expiresOnTimestamp);
    await assert.rejects(kit.azureCredential(ID).getToken([COGNITIVE_SCOPE, MANAGEMENT_SCOPE]), /one scope at a time/);
  });

  test('over SSH, `loginkit login` signs in with a device code at the tenant', async () => {
    const home = await makeHome();
    await createLoginkit({ home, env: env() }).addProvider(ID, { type: 'azure', tenant: entra.tenant });
    const ssh = { SSH_CONNECTION: '203.0.113.9 50000 198.51.100.7 22', SSH_TTY: '/dev/pts/3' };
    const cli = startCli(['login', ID], { home, env: { ...env(), ...ssh } });
    const [, uri = ''] = await cli.waitFor(/open this address \(on [^)]+\):\n\s+(\S+)\n/, 'stderr');
    const [, code = ''] = await cli.waitFor(/enter the code \(valid for \d+ min\):\n\s+(\S+)\n/, 'stderr');
    assert.ok(uri.startsWith(`${entra.authorityHost}/${entra.tenant}/`), uri);
    await completeDeviceSignInOverHttp(uri, code);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(entra.server.requests.some((request) => request.path === `/${entra.tenant}/oauth2/v2.0/devicecode`));
    const token = await runCli(['token', ID], { home, env: env() });
    assert.ok(await entra.honours(token.stdout.trim()));
    assert.ok(!`${result.stdout}${result.stderr}`.includes(token.stdout.trim()), 'login never prints the token');
    assert.match(result.stderr, /Signed in to azure as alice\b/);
  });

  test('an expired token: 50 concurrent callers share one refresh, which sends the scope and rotates the refresh token', async () => {
    const clock = { now: Date.now() };
    const { home, kit } = await signedIn(clock);
    const before = (await readStoredEntries(home))[`${ID}/default`];
    const refreshes = entra.server.stats.refreshGrants;
    const revoked = entra.server.stats.grantsRevoked;
    clock.now += 2 * 3600_000;

    const tokens = await Promise.all(Array.from({ length: 50 }, () => kit.getToken(ID)));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(entra.server.stats.refreshGrants - refreshes, 1, 'one refresh for every caller');
    assert.equal(entra.server.stats.grantsRevoked, revoked, 'no refresh token was used twice');
    assert.equal(entra.refreshScopes.at(-1), `${COGNITIVE_SCOPE} offline_access openid profile`, 'Entra ID wants the scope on a refresh');
    const after = (await readStoredEntries(home))[`${ID}/default`];
    assert.notEqual(after?.['refreshToken'], before?.['refreshToken'], 'the rotated refresh token was saved');
    assert.ok(await entra.honours(tokens[0] ?? ''));
  });

  test("another resource's scope: minted with the refresh token, cached by scope, the rotation saved", async () => {
    const { home, kit } = await signedIn();
    const own = await kit.getToken(ID);
    const refreshes = entra.server.stats.refreshGrants;
    const before = (await readStoredEntries(home))[`${ID}/default`];

    const other = await kit.azureToken(ID, { scope: MANAGEMENT_SCOPE });
    assert.equal(other.scope, MANAGEMENT_SCOPE);
    assert.equal(other.source, 'person');
    assert.notEqual(other.token, own);
    assert.equal(entra.otherScopes.at(-1), MANAGEMENT_SCOPE, 'the refresh asked for the other resource');
    assert.equal(entra.server.stats.refreshGrants - refreshes, 1);
    const stored = await readStoredEntries(home);
    assert.notEqual(stored[`${ID}/default`]?.['refreshToken'], before?.['refreshToken'], 'the rotated refresh token was saved');
    assert.equal(stored[`${ID}/default`]?.['accessToken'], own, "the provider's own token is kept");

    assert.equal((await kit.azureToken(ID, { scope: MANAGEMENT_SCOPE })).token, other.token, 'answered from the cache');
    assert.equal(await kit.getToken(ID), own);
    assert.equal(entra.server.stats.refreshGrants - refreshes, 1, 'no second refresh');

    // The rotated refresh token still renews the provider's own scope: the grant was not revoked.
    await expireStoredToken(home, ID);
    const renewed = await createLoginkit({ home, env: env() }).getToken(ID);
    assert.ok(await entra.honours(renewed));
  });

  test('conditional access refuses the refresh: one line that names what to do, nothing the server said', async () => {
    const { home } = await signedIn();
    await expireStoredToken(home, ID);
    entra.refuseNextRefresh(53003);
    const result = await runCli(['token', ID], { home, env: env() });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0] ?? '',
      /conditional access policy .* \(AADSTS53003\): use a device and network it allows, or ask your Entra ID administrator/,
    );
    assert.doesNotMatch(result.stderr, /Trace ID|refused by the stand-in/);
  });

  test('MFA asked again on refresh, and an expired refresh token: login required (exit 3), saying what to run', async () => {
    for (const code of [50076, 700082]) {
      const { home } = await signedIn();
      await expireStoredToken(home, ID);
      entra.refuseNextRefresh(code);
      const result = await runCli(['token', ID], { home, env: env() });
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, new RegExp(`AADSTS${code}`));
      assert.match(result.stderr, /Run: loginkit login azure/);
      assert.equal(result.stderr.trim().split('\n').length, 2, result.stderr);
    }
  });

  test('exec hands the token and the endpoint to the child, and removes a key that would be used instead', async () => {
    const { home, kit } = await signedIn();
    const token = await kit.getToken(ID);
    const out = join(home, 'child.json');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify([process.env.AZURE_OPENAI_AD_TOKEN, process.env.AZURE_OPENAI_ENDPOINT, process.env.AZURE_OPENAI_API_KEY ?? null]))`;
    const result = await runCli(['exec', ID, '--', process.execPath, '-e', script], {
      home,
      env: { ...env(), AZURE_OPENAI_API_KEY: 'stale-key-from-the-shell' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), [token, openai.url, null]);
  });

  test("config.json names another tenant after the sign-in: login required, not the old tenant's token", async () => {
    const { home, kit } = await signedIn();
    await kit.getToken(ID);
    await kit.addProvider(ID, { type: 'azure', tenant: '11111111-2222-3333-4444-555555555555', endpoint: openai.url });
    const result = await runCli(['token', ID], { home, env: env() });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /is for another tenant or app than config.json names now/);
  });

  test('status, login and logout print nothing secret; logout removes the sign-in', async () => {
    const { home, kit } = await signedIn();
    const token = await kit.getToken(ID);
    const stored = (await readStoredEntries(home))[`${ID}/default`];
    const secrets = [token, String(stored?.['refreshToken']), String(stored?.['idToken'])];
    const status = await runCli(['status', ID], { home, env: env() });
    assert.equal(status.code, 0, status.stderr);
    const statusJson = await runCli(['status', ID, '--json'], { home, env: env() });
    const logout = await runCli(['logout', ID], { home, env: env() });
    assert.equal(logout.code, 0, logout.stderr);
    for (const output of [status, statusJson, logout]) {
      for (const secret of secrets) assert.ok(!`${output.stdout}${output.stderr}`.includes(secret), 'a secret was printed');
    }
    const { providers } = JSON.parse(statusJson.stdout) as { providers: Array<{ azure?: { source?: string; tenant?: string } }> };
    assert.equal(providers[0]?.azure?.source, 'person');
    assert.equal(providers[0]?.azure?.tenant, entra.tenant);
    const again = await runCli(['token', ID], { home, env: env() });
    assert.equal(again.code, 3, 'signed out: login required');
  });
});
