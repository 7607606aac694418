// Odd input from a new user: every case gets a clear, bounded answer (issue "Hostile servers, hostile
// neighbours, odd input", cases 11–20). Each test is named after its case.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { CLI_ENTRY, homeWithProvider, makeHome, runCli, spawnCli } from '../helpers/cli.js';
import { type HttpServerHandle, startHttpServer } from '../helpers/stand-in.js';
import { seedValidToken } from '../helpers/store-fixtures.js';

const ENV = { LOGINKIT_STORE: 'file' };
const OPENAI_KEY = `sk-proj-${'A1b2C3d4E5'.repeat(3)}`;

async function withConfig(config: unknown): Promise<string> {
  const home = await makeHome();
  await writeFile(join(home, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return home;
}

describe('11. unknown provider ids', () => {
  for (const args of [
    ['logout', 'nope'],
    ['token', 'acme'],
    ['status', 'nope'],
    ['switch', 'nope', 'work'],
    ['login', 'nope'],
    ['exec', 'nope', '--', 'true'],
  ]) {
    test(`\`loginkit ${args.join(' ')}\` exits 2 with the known ids, never "not signed in"`, async () => {
      const result = await runCli(args, { home: await makeHome(), env: ENV });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /Unknown provider "(nope|acme)"\. Known: openai, anthropic, /);
      assert.doesNotMatch(result.stderr, /Not signed in|nothing to do|loginkit login (nope|acme)/);
    });
  }

  test('a typo is answered with the closest id', async () => {
    const result = await runCli(['token', 'opnai'], { home: await makeHome(), env: ENV });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Did you mean "openai"\?/);
  });

  test('two letters swapped count as one typo: the closest id is suggested', async () => {
    const home = await makeHome();
    for (const [typo, meant] of [
      ['opneai', 'openai'],
      ['antrhopic', 'anthropic'],
      ['gorq', 'groq'],
    ]) {
      const result = await runCli(['token', typo as string], { home, env: ENV });
      assert.equal(result.code, 2);
      assert.match(result.stderr, new RegExp(`Unknown provider "${typo}"\\. Did you mean "${meant}"\\?`));
    }
  });

  test('a provider id "__proto__" is refused: on the command line and as a key of config.json', async () => {
    const plain = await runCli(['token', '__proto__'], { home: await makeHome(), env: ENV });
    assert.equal(plain.code, 2, plain.stderr);
    assert.match(plain.stderr, /Unknown provider "__proto__"/);
    const home = await withConfig({
      providers: JSON.parse('{"__proto__": {"type": "oauth", "issuer": "https://auth.example.com", "clientId": "x"}}'),
    });
    const listed = await runCli(['providers'], { home, env: ENV });
    assert.equal(listed.code, 1);
    assert.match(listed.stderr, /config\.json: provider id "__proto__" must be 1–64 of a-z 0-9/);
  });

  test('a provider removed from config.json keeps its stored credential usable', async () => {
    const home = await makeHome();
    await seedValidToken(home, 'gone', 'still-valid');
    const token = await runCli(['token', 'gone'], { home, env: ENV });
    assert.equal(token.stdout, 'still-valid\n', token.stderr);
  });
});

describe('12. CI decides the method before any request', () => {
  let metadata: HttpServerHandle;
  let requests = 0;
  before(async () => {
    metadata = await startHttpServer((_req, res) => {
      requests += 1;
      res.writeHead(500).end();
    });
  });
  after(() => metadata.close());

  test('`CI=1 loginkit login <oauth provider>` exits 2 at once and the server sees no request', async () => {
    const home = await withConfig({ providers: { demo: { type: 'oauth', issuer: metadata.url, clientId: 'cli' } } });
    const result = await runCli(['login', 'demo'], { home, env: { ...ENV, CI: '1' } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /CI is set, so nobody is here to finish a sign-in in a browser; loginkit will not wait\./);
    assert.match(result.stderr, /loginkit login demo --device/);
    assert.match(result.stderr, /loginkit login demo --paste/);
    assert.equal(requests, 0, 'no discovery request before the refusal');
  });

  test('`CI=1 loginkit login openai` names the API key and the device code, without a request', async () => {
    const result = await runCli(['login', 'openai', '--oauth'], {
      home: await makeHome(),
      env: { ...ENV, CI: '1', HTTPS_PROXY: metadata.url },
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--with-api-key/);
    assert.match(result.stderr, /loginkit login openai --device/);
    assert.equal(requests, 0);
  });
});

describe('13. what logout and status say about the other sources', () => {
  test('logout while OPENAI_API_KEY is set says the variable is still in effect and how to unset it', async () => {
    const home = await makeHome();
    const stored = await runCli(['login', 'openai', '--with-api-key', '--no-verify'], { home, input: OPENAI_KEY, env: ENV });
    assert.equal(stored.code, 0, stored.stderr);
    const result = await runCli(['logout', 'openai'], { home, env: { ...ENV, OPENAI_API_KEY: OPENAI_KEY } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Logged out of openai/);
    assert.match(
      result.stderr,
      /OPENAI_API_KEY is still set in this environment, and `token` and `exec` go on using it; to stop: unset OPENAI_API_KEY/,
    );
    assert.ok(!result.stderr.includes(OPENAI_KEY));
  });

  test('status <id> when only another profile is signed in suggests `loginkit switch`', async () => {
    const home = await makeHome();
    const stored = await runCli(['login', 'openai', '--with-api-key', '--no-verify', '--profile', 'work'], {
      home,
      input: OPENAI_KEY,
      env: ENV,
    });
    assert.equal(stored.code, 0, stored.stderr);
    const result = await runCli(['status', 'openai'], { home, env: ENV });
    assert.equal(result.code, 3);
    assert.match(result.stdout, /openai: not signed in \(profile "work" has one: loginkit switch openai work\)/);
  });
});

describe('14. --paste with a piped stdin that ends', () => {
  let server: AuthServer;
  before(async () => {
    server = await startAuthServer();
  });
  after(() => server.close());

  test('stdin that closes without an accepted URL ends the login with a clear error, not the timeout', async () => {
    const home = await homeWithProvider(server);
    const result = await runCli(['login', 'demo', '--paste', '--timeout', '600'], { home, input: 'not a url\n', env: ENV });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /The input ended before a pasted address was accepted; nothing was signed in\./);
    const stored = await readFile(join(home, 'credentials.json'), 'utf8').catch(() => '');
    assert.ok(!stored.includes('demo/default'), 'nothing was stored');
  });

  test('10. a pasted line that never ends is cut at the cap: the input counts as ended', async () => {
    const home = await homeWithProvider(server);
    const result = await runCli(['login', 'demo', '--paste', '--timeout', '600'], { home, input: 'x'.repeat(1024 * 1024), env: ENV });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /The input ended before a pasted address was accepted/);
  });
});

describe('15. key format check and gateways', () => {
  let gateway: HttpServerHandle;
  before(async () => {
    gateway = await startHttpServer((req, res) => {
      const ok = req.url === '/v1/models' && req.headers.authorization === 'Bearer sk-1234';
      res.writeHead(ok ? 200 : req.url?.startsWith('/v1/') ? 401 : 404, { 'content-type': 'application/json' }).end('{"data":[]}');
    });
  });
  after(() => gateway.close());

  test('a key of the wrong shape is refused in plain words, with the way for gateway keys', async () => {
    const result = await runCli(['login', 'openai', '--with-api-key'], { home: await makeHome(), input: 'sk-1234', env: ENV });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /That does not look like an OpenAI API key \(expected "sk-proj-", "sk-svcacct-" or "sk-None-" and 20 or more/,
    );
    assert.match(result.stderr, /A key for a gateway or proxy\? Set its base URL \(OPENAI_BASE_URL or "baseUrl"/);
    const anthropic = await runCli(['login', 'anthropic', '--with-api-key'], { home: await makeHome(), input: 'sk-ant-short', env: ENV });
    assert.match(anthropic.stderr, /does not look like an Anthropic API key \(expected "sk-ant-api03-" and 20 or more/);
  });

  test("a LiteLLM-style key (sk-1234) is stored with a warning when the gateway's base URL is set", async () => {
    const home = await makeHome();
    const env = { ...ENV, OPENAI_BASE_URL: `${gateway.url}/v1` };
    const result = await runCli(['login', 'openai', '--with-api-key'], { home, input: 'sk-1234', env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /warning: That does not look like an OpenAI API key .*; kept, since the base URL is set to http:\/\/127\.0\.0\.1:\d+\/v1/,
    );
    assert.match(result.stderr, /OpenAI accepted it/);
    const token = await runCli(['token', 'openai'], { home, env: ENV });
    assert.equal(token.stdout, 'sk-1234\n');
  });

  test('a wrong base URL during validation names the URL that answered 404', async () => {
    const home = await withConfig({ providers: { openai: { baseUrl: `${gateway.url}/wrong` } } });
    const result = await runCli(['login', 'openai', '--with-api-key'], { home, input: OPENAI_KEY, env: ENV });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`${gateway.url.replace(/[.]/g, '\\.')}/wrong/models answered HTTP 404 when checking the key: is the base URL right\\?`),
    );
  });
});

test('16. an imported key shows as not checked in status', async () => {
  const home = await makeHome();
  const codexHome = join(home, 'codex');
  await mkdir(codexHome, { mode: 0o700 });
  await writeFile(join(codexHome, 'auth.json'), JSON.stringify({ OPENAI_API_KEY: OPENAI_KEY }), { mode: 0o600 });
  const imported = await runCli(['import', 'codex'], { home, env: { ...ENV, CODEX_HOME: codexHome } });
  assert.equal(imported.code, 0, imported.stderr);
  const status = await runCli(['status', 'openai'], { home, env: ENV });
  assert.match(status.stdout, /openai: API key sk-pro…\w{4} from the store \(not checked with the provider: imported or --no-verify\)/);
  const json = JSON.parse((await runCli(['status', 'openai', '--json'], { home, env: ENV })).stdout) as {
    providers: Array<{ verified: boolean }>;
  };
  assert.equal(json.providers[0]?.verified, false);
});

test('17. login --json and status --json: one shape per concept, with schemaVersion', async () => {
  const home = await makeHome();
  const login = JSON.parse(
    (await runCli(['login', 'openai', '--with-api-key', '--no-verify', '--json'], { home, input: OPENAI_KEY, env: ENV })).stdout,
  );
  const status = JSON.parse((await runCli(['status', 'openai', '--json'], { home, env: ENV })).stdout);
  assert.equal(login.schemaVersion, 1);
  assert.equal(status.schemaVersion, 1);
  const entry = status.providers[0];
  const { schemaVersion: _version, ...signedIn } = login;
  assert.deepEqual(Object.keys(signedIn).sort(), Object.keys(entry).sort(), 'exactly the fields of a status entry');
  assert.deepEqual(signedIn, entry, 'in the same shapes');
  assert.equal(typeof login.store, 'string');

  // A variable that takes precedence over what was just stored: the entry says so, as the warning does.
  const shadowed = await runCli(['login', 'openai', '--with-api-key', '--no-verify', '--json', '--profile', 'work'], {
    home,
    input: OPENAI_KEY,
    env: { ...ENV, OPENAI_API_KEY: `sk-proj-${'Z9y8X7w6V5'.repeat(3)}` },
  });
  assert.match(shadowed.stderr, /warning: OPENAI_API_KEY is set in this environment/);
  const shadowedEntry = JSON.parse(shadowed.stdout) as { profile: string; source: string; shadowedBy: string | null };
  assert.deepEqual([shadowedEntry.profile, shadowedEntry.source, shadowedEntry.shadowedBy], ['work', 'env', 'OPENAI_API_KEY']);
  assert.equal(entry.shadowedBy, null);
});

test('18. LOGINKIT_DEBUG=1 stack traces point into src/, not the minified bundle', async () => {
  const cli = spawnCli(['token', 'nope'], { home: await makeHome(), env: { ...ENV, LOGINKIT_DEBUG: '1' } });
  const result = await cli.exited;
  assert.equal(result.code, 2);
  assert.match(result.stderr, /at .*src\/providers\/registry\.ts:\d+/);
  assert.ok(CLI_ENTRY.endsWith('bin/loginkit.cjs'));
});

test('19. help points to a document that exists, and the package carries its licence', async () => {
  const help = await runCli(['login', '--help'], { home: await makeHome(), env: ENV });
  assert.doesNotMatch(help.stdout, /docs\/remote\.md/);
  assert.match(help.stdout, /docs\/remote-sign-in\.md/);
  const root = join(CLI_ENTRY, '../..');
  assert.match(await readFile(join(root, 'docs/remote-sign-in.md'), 'utf8'), /^## Signing in on a remote machine$/m);
  assert.match(await readFile(join(root, 'LICENSE'), 'utf8'), /^MIT License/);
});

test('20. status and status --json never show a stored API key in full (no variable set)', async () => {
  const home = await makeHome();
  const stored = await runCli(['login', 'openai', '--with-api-key', '--no-verify'], { home, input: OPENAI_KEY, env: ENV });
  assert.equal(stored.code, 0, stored.stderr);
  for (const args of [['status'], ['status', 'openai'], ['status', '--json'], ['status', 'openai', '--json']]) {
    const result = await runCli(args, { home, env: ENV });
    assert.ok(!(result.stdout + result.stderr).includes(OPENAI_KEY), `${args.join(' ')} shows the key`);
    assert.match(result.stdout, /sk-pro…\w{4}/, `${args.join(' ')} shows the key masked`);
  }
});

test('10. a huge stdin to --with-api-key is refused at the cap, and nothing is stored', async () => {
  const home = await makeHome();
  const result = await runCli(['login', 'openai', '--with-api-key', '--no-verify'], { home, input: 'x'.repeat(1024 * 1024), env: ENV });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /The API key on stdin is longer than 64 KiB/);
  assert.equal(await readFile(join(home, 'credentials.json'), 'utf8').catch(() => ''), '');
});

test('7. a config.json that others can change, or that belongs to another user, is refused: it names where sign-ins go', async () => {
  const home = await withConfig({ providers: { demo: { type: 'oauth', issuer: 'https://auth.example.com', clientId: 'x' } } });
  const config = join(home, 'config.json');
  await chmod(config, 0o666);
  const writable = await runCli(['providers'], { home, env: ENV });
  assert.equal(writable.code, 1);
  assert.match(writable.stderr, /config\.json can be changed by other users, so loginkit will not use it\.\nFix: chmod 600 /);
  await chmod(config, 0o600);
  if (process.getuid?.() === 0) {
    await chown(config, 4242, 4242);
    const foreign = await runCli(['providers'], { home, env: ENV });
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /config\.json belongs to another user \(uid 4242\)/);
  }
});
