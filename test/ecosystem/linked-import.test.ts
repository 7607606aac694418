// Living beside other tools' logins: an imported Codex or opencode ChatGPT sign-in is linked, not forked.
// oidc-provider rotates refresh tokens and revokes the grant when a used one comes back (reuse detection);
// loginkit and a stand-in for the other tool — which refreshes exactly as it does: reads its file,
// refreshes, writes the file back — take turns in every order. Neither may ever see invalid_grant.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLoginkit, type Loginkit } from '../../src/index.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { signInOverHttp } from '../helpers/person.js';
import { makeHome } from '../helpers/cli.js';
import { readStoredEntries } from '../lifecycle/support.js';

const CHATGPT = { profile: 'chatgpt' };

interface TokenSet {
  accessToken: string;
  refreshToken: string;
  idToken: string | undefined;
}

/** Signs in to `server` once with a fresh loginkit home and returns the tokens (what the other tool got at its login). */
async function signInOnce(server: AuthServer): Promise<TokenSet> {
  const home = await makeHome();
  const seed = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, openBrowser: async (url) => void (await signInOverHttp(url)) });
  await seed.addProvider('seed', { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
  await seed.login('seed');
  const entry = (await readStoredEntries(home))['seed/default'] as Record<string, string>;
  return { accessToken: String(entry.accessToken), refreshToken: String(entry.refreshToken), idToken: entry.idToken };
}

async function tokenEndpoint(server: AuthServer): Promise<string> {
  const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  return metadata.token_endpoint;
}

/** What the tool's token endpoint answered; throws with the OAuth error (invalid_grant would fail the test). */
async function redeem(
  response: Response,
): Promise<{ access_token: string; refresh_token?: string; id_token?: string; expires_in?: number }> {
  const body = (await response.json()) as {
    error?: string;
    access_token: string;
    refresh_token?: string;
    id_token?: string;
    expires_in?: number;
  };
  if (!response.ok) throw new Error(`the other tool's refresh failed: ${body.error}`);
  return body;
}

/** Codex (codex-rs/login): JSON POST with client_id, grant_type, refresh_token, scope; updates tokens and last_refresh. */
async function codexRefresh(file: string, endpoint: string, clientId: string): Promise<void> {
  const auth = JSON.parse(await readFile(file, 'utf8')) as { tokens: Record<string, string>; last_refresh: string };
  const body = await redeem(
    await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: clientId,
        grant_type: 'refresh_token',
        refresh_token: auth.tokens.refresh_token,
        scope: 'openid profile email',
      }),
    }),
  );
  auth.tokens.access_token = body.access_token;
  if (body.refresh_token) auth.tokens.refresh_token = body.refresh_token;
  if (body.id_token) auth.tokens.id_token = body.id_token;
  auth.last_refresh = new Date().toISOString();
  await writeFile(file, JSON.stringify(auth, null, 2), { mode: 0o600 });
}

/** opencode: form POST with grant_type, refresh_token, client_id; replaces its provider entry. */
async function opencodeRefresh(file: string, endpoint: string, clientId: string): Promise<void> {
  const auth = JSON.parse(await readFile(file, 'utf8')) as Record<string, { refresh: string; accountId?: string }>;
  const entry = auth.openai as { refresh: string; accountId?: string };
  const body = await redeem(
    await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: entry.refresh, client_id: clientId }),
    }),
  );
  auth.openai = {
    type: 'oauth',
    refresh: body.refresh_token ?? entry.refresh,
    access: body.access_token,
    expires: Date.now() + (body.expires_in ?? 3600) * 1000,
    ...(entry.accountId ? { accountId: entry.accountId } : {}),
  } as (typeof auth)['openai'];
  await writeFile(file, JSON.stringify(auth, null, 2), { mode: 0o600 });
}

describe('imported ChatGPT sign-ins are linked to the other tool’s file', () => {
  let server: AuthServer;
  let endpoint: string;
  const isValid = async (token: string): Promise<boolean> =>
    (await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).ok;

  before(async () => {
    server = await startAuthServer({ accessTokenTtl: 3600, rotateRefreshTokens: true, acceptJsonBodies: true });
    endpoint = await tokenEndpoint(server);
  });
  after(async () => {
    await server.close();
  });

  /** A loginkit home whose `openai` provider is the local server (issuer overridden in config.json), and a clock. */
  async function kitFor(env: Record<string, string>): Promise<{ kit: Loginkit; home: string; clock: { now: number } }> {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { openai: { issuer: server.issuer, clientId: server.clientId } } }),
    );
    const clock = { now: Date.now() };
    return { kit: createLoginkit({ home, env: { LOGINKIT_STORE: 'file', ...env }, now: () => clock.now }), home, clock };
  }

  test('Codex: any number of refreshes by either, in any order, and both keep a working token', async () => {
    const signedIn = await signInOnce(server);
    const codexHome = await mkdtemp(join(tmpdir(), 'codex-home-'));
    const file = join(codexHome, 'auth.json');
    const original = {
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: {
        id_token: signedIn.idToken,
        access_token: signedIn.accessToken,
        refresh_token: signedIn.refreshToken,
        account_id: 'acct-1',
      },
      last_refresh: new Date().toISOString(),
      some_future_field: { kept: true },
    };
    await writeFile(file, JSON.stringify(original, null, 2), { mode: 0o600 });
    const { kit, home } = await kitFor({ CODEX_HOME: codexHome });

    const report = await kit.importCredentials('codex');
    assert.deepEqual(
      report.imported.map((i) => [i.provider, i.profile, i.kind]),
      [['openai', 'chatgpt', 'oauth']],
    );
    const errorsBefore = server.stats.grantErrors;
    const codexToken = async (): Promise<string> => (JSON.parse(await readFile(file, 'utf8')) as typeof original).tokens.access_token;

    for (const turn of ['loginkit', 'codex', 'codex', 'loginkit', 'loginkit', 'codex', 'loginkit', 'codex']) {
      if (turn === 'codex') await codexRefresh(file, endpoint, server.clientId);
      else await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
      const [ours, theirs] = [await kit.getToken('openai', CHATGPT), await codexToken()];
      assert.equal(ours, theirs, `after ${turn}: both use the newest token`);
      assert.ok(await isValid(ours), `after ${turn}: the token works`);
    }
    assert.equal(server.stats.grantErrors - errorsBefore, 0, 'no invalid_grant');
    assert.equal(server.stats.grantsRevoked, 0, 'no grant revoked by reuse detection');

    // Codex's other fields are intact, the file is still private, and loginkit keeps only a reference plus its copy.
    const after = JSON.parse(await readFile(file, 'utf8')) as typeof original;
    assert.equal(after.auth_mode, 'chatgpt');
    assert.equal(after.OPENAI_API_KEY, null);
    assert.equal(after.tokens.account_id, 'acct-1');
    assert.deepEqual(after.some_future_field, { kept: true });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual((await readStoredEntries(home))['openai/chatgpt']?.link, { tool: 'codex', file });
    assert.equal((await kit.status('openai', CHATGPT))[0]?.linkedTo, `${file} (codex)`);

    // Codex uninstalled (its file gone): loginkit goes on with its own copy and does not recreate the file.
    await rm(file);
    const last = await kit.getToken('openai', CHATGPT);
    const renewed = await kit.renewRejectedToken('openai', last, CHATGPT);
    assert.notEqual(renewed, last);
    assert.ok(await isValid(renewed));
    await assert.rejects(stat(file), { code: 'ENOENT' });
    assert.equal(server.stats.grantErrors - errorsBefore, 0);
  });

  test('opencode: refreshes when due by the clock or by force, alternating with opencode, without invalid_grant', async () => {
    const signedIn = await signInOnce(server);
    const dataHome = await mkdtemp(join(tmpdir(), 'xdg-data-'));
    const file = join(dataHome, 'opencode', 'auth.json');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dataHome, 'opencode'), { recursive: true, mode: 0o700 }));
    const anthropicEntry = { type: 'api', key: 'kept-as-it-is' };
    await writeFile(
      file,
      JSON.stringify({
        anthropic: anthropicEntry,
        openai: {
          type: 'oauth',
          refresh: signedIn.refreshToken,
          access: signedIn.accessToken,
          expires: Date.now() + 3_600_000,
          accountId: 'acct-2',
        },
      }),
      { mode: 0o600 },
    );
    const { kit, clock } = await kitFor({ XDG_DATA_HOME: dataHome });
    await kit.importCredentials('opencode', { profile: 'keys' });
    const errorsBefore = server.stats.grantErrors;
    const theirs = async (): Promise<{ access: string; expires: number; accountId?: string }> =>
      (JSON.parse(await readFile(file, 'utf8')) as { openai: { access: string; expires: number; accountId?: string } }).openai;

    for (const turn of ['clock', 'opencode', 'force', 'opencode', 'opencode', 'clock', 'force']) {
      if (turn === 'opencode') await opencodeRefresh(file, endpoint, server.clientId);
      else if (turn === 'force') await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
      else clock.now = (await theirs()).expires - 60_000; // within the refresh margin: loginkit refreshes on use
      const ours = await kit.getToken('openai', CHATGPT);
      assert.equal(ours, (await theirs()).access, `after ${turn}: both use the newest token`);
      assert.ok(await isValid(ours), `after ${turn}: the token works`);
    }
    assert.equal(server.stats.grantErrors - errorsBefore, 0, 'no invalid_grant');
    assert.equal(server.stats.grantsRevoked, 0);
    const final = JSON.parse(await readFile(file, 'utf8')) as { anthropic: unknown; openai: { accountId?: string } };
    assert.deepEqual(final.anthropic, anthropicEntry, "opencode's other entries are intact");
    assert.equal(final.openai.accountId, 'acct-2');
  });
});
