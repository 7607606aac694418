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
import { makeHome, runCli } from '../helpers/cli.js';
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
    const link = (await readStoredEntries(home))['openai/chatgpt']?.link as { tool: string; file: string };
    assert.deepEqual([link.tool, link.file], ['codex', file]);
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
    await kit.importCredentials('opencode');
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

describe('linked imports hold up when the other tool’s file changes under them (issue 19 items 15–18, issue 20 item 3)', () => {
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

  interface Linked {
    kit: Loginkit;
    home: string;
    file: string;
    codexHome: string;
    clock: { now: number };
    warnings: string[];
    signedIn: TokenSet;
    original: string;
  }

  /** A fresh sign-in written as Codex writes auth.json (`text` shapes it), imported into a new loginkit home. */
  async function linkedCodex(
    text: (tokens: TokenSet) => string = (t) => codexText(t, new Date(Date.now() - 60_000).toISOString()),
    importProfile?: string,
  ): Promise<Linked> {
    const signedIn = await signInOnce(server);
    const codexHome = await mkdtemp(join(tmpdir(), 'codex-home-'));
    const file = join(codexHome, 'auth.json');
    const original = text(signedIn);
    await writeFile(file, original, { mode: 0o600 });
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { openai: { issuer: server.issuer, clientId: server.clientId } } }),
    );
    const clock = { now: Date.now() };
    const warnings: string[] = [];
    const kit = createLoginkit({
      home,
      env: { LOGINKIT_STORE: 'file', CODEX_HOME: codexHome },
      now: () => clock.now,
      onWarning: (message) => void warnings.push(message),
    });
    await kit.importCredentials('codex', importProfile ? { profile: importProfile } : {});
    return { kit, home, file, codexHome, clock, warnings, signedIn, original };
  }

  function codexText(t: TokenSet, lastRefresh: string): string {
    return JSON.stringify(
      {
        auth_mode: 'chatgpt',
        OPENAI_API_KEY: null,
        tokens: { id_token: t.idToken, access_token: t.accessToken, refresh_token: t.refreshToken, account_id: 'acct-1' },
        last_refresh: lastRefresh,
      },
      null,
      2,
    );
  }

  const fileTokens = async (file: string): Promise<{ access_token: string; refresh_token: string }> =>
    (JSON.parse(await readFile(file, 'utf8')) as { tokens: { access_token: string; refresh_token: string } }).tokens;

  test('item 15: a refresh while the file cannot be parsed is said on stderr and written back on the next use', async () => {
    const { kit, file, warnings, original } = await linkedCodex();
    const errorsBefore = server.stats.grantErrors;
    // Codex rewrites auth.json in place: for a moment it holds half a file.
    await writeFile(file, original.slice(0, 40));
    const renewed = await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
    assert.ok(
      warnings.some((w) => w.includes(file) && /next use/.test(w)),
      `a warning names the file and the retry: ${JSON.stringify(warnings)}`,
    );
    // Codex's rewrite completes with the tokens it had (now consumed at the server by loginkit's refresh).
    await writeFile(file, original);
    assert.equal(await kit.getToken('openai', CHATGPT), renewed, 'the older tokens in the file are not adopted');
    assert.equal((await fileTokens(file)).access_token, renewed, 'the refreshed tokens were written back on the next use');
    assert.equal((await kit.status('openai', CHATGPT))[0]?.linkState, 'linked');
    // Codex refreshes with what its file holds now: the live refresh token, so no reuse and no revoked grant.
    await codexRefresh(file, endpoint, server.clientId);
    assert.equal(server.stats.grantErrors - errorsBefore, 0, 'no invalid_grant: the refresh token did not fork');
    assert.ok(await isValid(await kit.getToken('openai', CHATGPT)));
  });

  test('item 15: a file rolled back to older tokens is never adopted over newer ones loginkit holds', async () => {
    const { kit, file, original } = await linkedCodex();
    const renewed = await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
    assert.equal((await fileTokens(file)).access_token, renewed);
    await writeFile(file, original); // e.g. restored from a backup, or a stale copy written back
    assert.equal(await kit.getToken('openai', CHATGPT), renewed);
    assert.ok(await isValid(renewed));
  });

  test('item 16: signed out in opencode (its entry removed, others kept): loginkit keeps its copy, writes nothing back, says so', async () => {
    const signedIn = await signInOnce(server);
    const dataHome = await mkdtemp(join(tmpdir(), 'xdg-data-'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dataHome, 'opencode'), { recursive: true, mode: 0o700 });
    const file = join(dataHome, 'opencode', 'auth.json');
    const openai = { type: 'oauth', refresh: signedIn.refreshToken, access: signedIn.accessToken, expires: Date.now() + 3_600_000 };
    await writeFile(file, JSON.stringify({ anthropic: { type: 'api', key: 'kept' }, openai }), { mode: 0o600 });
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { openai: { issuer: server.issuer, clientId: server.clientId } } }),
    );
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file', XDG_DATA_HOME: dataHome } });
    await kit.importCredentials('opencode');
    const signedOut = JSON.stringify({ anthropic: { type: 'api', key: 'kept' } });
    await writeFile(file, signedOut); // opencode auth logout openai
    const renewed = await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
    assert.ok(await isValid(renewed), 'loginkit goes on with its own copy');
    assert.equal(await readFile(file, 'utf8'), signedOut, 'the removed entry is not written back');
    const [state] = await kit.status('openai', CHATGPT);
    assert.equal(state?.linkState, 'signed-out');
    const cli = await runCli(['status', 'openai', '--profile', 'chatgpt'], {
      home,
      env: { XDG_DATA_HOME: dataHome, LOGINKIT_STORE: 'file' },
    });
    assert.match(cli.stdout + cli.stderr, /signed out there/);
  });

  test('item 17: unknown fields survive a write-back byte for byte', async () => {
    const layout = (t: TokenSet): string =>
      `{"future":12345678901234567890, "dup":1, "dup":2,\n  "tokens" : {"access_token":"${t.accessToken}",\t"refresh_token":"${t.refreshToken}","id_token":"${t.idToken}","account_id":"acct-1","extra":1.0e+2},\n  "last_refresh": "${new Date(Date.now() - 60_000).toISOString()}", "OPENAI_API_KEY": null}\n`;
    const { kit, file, original } = await linkedCodex(layout);
    await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
    const after = await readFile(file, 'utf8');
    assert.notEqual(after, original, 'the tokens were written back');
    const blank = (text: string): string =>
      text.replace(/"(access_token|refresh_token|id_token|last_refresh)"(\s*):(\s*)"[^"]*"/g, '"$1"$2:$3""');
    assert.equal(blank(after), blank(original), 'every byte but the refreshed values is as Codex left it');
    assert.ok(after.includes('12345678901234567890'));
  });

  test('item 18: only a file that passes the owner and mode checks of loginkit’s own store is linked', async () => {
    const loose = await linkedCodex((t) => codexText(t, new Date().toISOString()));
    await rm(join(loose.home, 'credentials.json'), { force: true });
    const { chmod } = await import('node:fs/promises');
    // Readable by others: refused at import…
    await chmod(loose.file, 0o644);
    const report = await createLoginkit({
      home: await makeHome(),
      env: { LOGINKIT_STORE: 'file', CODEX_HOME: loose.codexHome },
    }).importCredentials('codex');
    assert.deepEqual(report.imported, []);
    assert.match(report.skipped.map((s) => s.reason).join('\n'), /chmod 600/);
    // …and, once linked, neither adopted nor written to while it is so.
    const { kit, file, warnings } = await linkedCodex();
    await chmod(file, 0o664);
    const before = await readFile(file, 'utf8');
    await kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT);
    assert.equal(await readFile(file, 'utf8'), before, 'nothing written to a file others can change');
    assert.ok(warnings.some((w) => /chmod 600/.test(w)));
  });

  test('issue 20: import codex --profile work places the sign-in under work, and `token openai --profile work` prints it', async () => {
    const { home, codexHome, signedIn, kit } = await linkedCodex(undefined, 'work');
    const token = await runCli(['token', 'openai', '--profile', 'work'], { home, env: { CODEX_HOME: codexHome, LOGINKIT_STORE: 'file' } });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout.trim(), signedIn.accessToken);
    assert.equal((await kit.status('openai', { profile: 'work' }))[0]?.linkState, 'linked');
    const help = await runCli(['import', '--help'], { home });
    assert.doesNotMatch(help.stdout, /read-only/);
    assert.match(help.stdout, /linked/);
  });

  test('issue 20: a Codex access token that is no JWT is refreshed on Codex’s schedule, last_refresh + 8 days', async () => {
    const nineDaysAgo = new Date(Date.now() - 9 * 24 * 3_600_000).toISOString();
    const { kit, file, signedIn } = await linkedCodex((t) => codexText(t, nineDaysAgo));
    assert.equal(signedIn.accessToken.split('.').length === 3, false, 'the stand-in issues opaque access tokens, as this case needs');
    const token = await kit.getToken('openai', CHATGPT);
    assert.notEqual(token, signedIn.accessToken, 'refreshed without waiting for a 401');
    assert.ok(await isValid(token));
    assert.equal((await fileTokens(file)).access_token, token);
  });

  test('issue 20: holds Codex’s own $CODEX_HOME/auth.json.lock (flock) while refreshing', async () => {
    const { kit, codexHome } = await linkedCodex();
    const lockPath = join(codexHome, 'auth.json.lock');
    const { spawn } = await import('node:child_process');
    // Codex (Rust's File::lock) takes an exclusive flock on the file; so does flock(1).
    const holder = spawn('flock', ['--exclusive', lockPath, 'sh', '-c', 'echo held; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const refreshesBefore = server.stats.refreshGrants;
    let settled = false;
    const renewal = kit.renewRejectedToken('openai', await kit.getToken('openai', CHATGPT), CHATGPT).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(settled, false, 'the refresh waits while Codex holds its lock');
    assert.equal(server.stats.refreshGrants, refreshesBefore, 'no refresh token redeemed under Codex’s lock');
    holder.stdin.end('\n');
    assert.ok(await isValid(await renewal));
    assert.equal(server.stats.refreshGrants, refreshesBefore + 1);
  });
});
