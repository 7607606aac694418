import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUILTIN_PROVIDERS } from '../../src/providers/catalog.js';
import { makeHome, runCli, runCliProcess, spawnCli } from '../helpers/cli.js';
import { refusedPort, startHttpServer } from '../helpers/stand-in.js';
import { type ProviderStandIns, startProviderStandIns } from '../helpers/provider-stand-ins.js';

const ENV = { LOGINKIT_STORE: 'file' };

/** A home whose config.json points every built-in provider's API at the stand-ins. */
async function homeAgainst(standIns: ProviderStandIns): Promise<string> {
  const home = await makeHome();
  const providers = Object.fromEntries(BUILTIN_PROVIDERS.map((p) => [p.id, { baseUrl: standIns.baseUrlFor(p.id) }]));
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers }), { mode: 0o600 });
  return home;
}

async function storedText(home: string): Promise<string> {
  return readFile(join(home, 'credentials.json'), 'utf8').catch(() => '');
}

function login(home: string, id: string, key: string, extra: string[] = [], env: Record<string, string> = {}) {
  return runCli(['login', id, '--with-api-key', ...extra], { home, input: `${key}\n`, env: { ...ENV, ...env } });
}

describe('API keys: entered once, checked, stored, shown masked', () => {
  let standIns: ProviderStandIns;
  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('every built-in provider: a good key is verified with the right header and stored; token prints it', async () => {
    const home = await homeAgainst(standIns);
    for (const provider of BUILTIN_PROVIDERS) {
      const key = standIns.goodKeyFor(provider.id);
      const before = standIns.requests.length;
      const result = await login(home, provider.id, key);
      assert.equal(result.code, 0, `${provider.id}: ${result.stderr}`);
      assert.ok(standIns.requests.length > before, `${provider.id}: the key was checked with the provider`);
      assert.match(result.stderr, /accepted it/);
      assert.ok(!(result.stderr + result.stdout).includes(key), `${provider.id}: the key is never shown in full`);
      const token = await runCli(['token', provider.id], { home, env: ENV });
      assert.equal(token.stdout, `${key}\n`, `${provider.id}: token prints the stored key`);
    }
  });

  test('a rejected key is not stored and the message says so', async () => {
    const home = await homeAgainst(standIns);
    const result = await login(home, 'openai', standIns.badKeyFor('openai'));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /rejected this API key \(HTTP 401\); nothing was stored/);
    assert.equal(await storedText(home), '', 'nothing was written');
    assert.equal((await runCli(['token', 'openai'], { home, env: ENV })).code, 3);
  });

  test('a badly formatted key is refused before any request, naming the expected shape', async () => {
    // No base URL configured: with one (a gateway), the shape is only warned about.
    const home = await makeHome();
    const before = standIns.requests.length;
    const result = await login(home, 'anthropic', 'sk-proj-this-is-an-openai-key-shape-0123456789');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /does not look like an Anthropic API key \(expected "sk-ant-api03-" and 20 or more/);
    assert.equal(standIns.requests.length, before, 'no request was made');
    assert.doesNotMatch(result.stderr, /this-is-an-openai-key-shape/);
  });

  test('an unreachable provider suggests --no-verify, which stores offline', async () => {
    const home = await makeHome();
    const port = await refusedPort();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { groq: { baseUrl: `http://127.0.0.1:${port}/openai/v1` } } }), {
      mode: 0o600,
    });
    const key = standIns.goodKeyFor('groq');
    const offline = await login(home, 'groq', key);
    assert.equal(offline.code, 1);
    assert.match(offline.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(offline.stderr, /--no-verify/);
    const stored = await login(home, 'groq', key, ['--no-verify']);
    assert.equal(stored.code, 0, stored.stderr);
    assert.match(stored.stderr, /not checked: --no-verify/);
    assert.equal((await runCli(['token', 'groq'], { home, env: ENV })).stdout, `${key}\n`);
  });

  test('a key given on the command line is refused without echoing it', async () => {
    const home = await homeAgainst(standIns);
    const key = standIns.goodKeyFor('openai');
    const result = await runCli(['login', 'openai', key], { home, env: ENV });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--with-api-key/);
    assert.ok(!result.stderr.includes(key));
    assert.equal(await storedText(home), '');
  });

  test('Anthropic: asking for OAuth explains the policy in one line and points to an API key', async () => {
    const home = await homeAgainst(standIns);
    const result = await runCli(['login', 'anthropic', '--oauth'], { home, env: ENV });
    assert.equal(result.code, 1);
    const [first, second] = result.stderr.trim().split('\n');
    assert.match(first ?? '', /Anthropic's terms forbid using Claude Free, Pro or Max subscription credentials in third-party tools/);
    assert.match(second ?? '', /loginkit login anthropic --with-api-key/);
  });

  test('no provider and no terminal: a usage error listing the ids', async () => {
    const home = await makeHome();
    const result = await runCli(['login'], { home, env: ENV });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /openai, anthropic, gemini/);
  });
});

describe('precedence you can see, profiles, exec', () => {
  let standIns: ProviderStandIns;
  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('an environment variable wins, visibly: status marks it, login warns, --source store forces the stored key', async () => {
    const home = await homeAgainst(standIns);
    const stored = standIns.goodKeyFor('openai');
    const fromEnv = 'sk-proj-ENVIRONMENTKEY0000000000000000000000wxyz';
    const env = { OPENAI_API_KEY: fromEnv };
    const result = await login(home, 'openai', stored, [], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /warning: OPENAI_API_KEY is set in this environment and takes precedence/);

    assert.equal((await runCli(['token', 'openai'], { home, env: { ...ENV, ...env } })).stdout, `${fromEnv}\n`);
    assert.equal((await runCli(['token', 'openai', '--source', 'store'], { home, env: { ...ENV, ...env } })).stdout, `${stored}\n`);
    assert.equal((await runCli(['token', 'openai'], { home, env: ENV })).stdout, `${stored}\n`, 'without the variable, the stored key');
    assert.equal((await runCli(['token', 'openai', '--source', 'env'], { home, env: ENV })).code, 3);

    const status = await runCli(['status', 'openai', '--json'], { home, env: { ...ENV, ...env } });
    const [entry] = (
      JSON.parse(status.stdout) as {
        providers: Array<{
          source: string;
          key: string;
          sources: Array<{ kind: string; name: string; detail: string; inEffect: boolean }>;
        }>;
      }
    ).providers;
    assert.ok(entry);
    assert.equal(entry.source, 'env');
    assert.deepEqual(
      entry.sources.map((s) => [s.kind, s.name, s.inEffect]),
      [
        ['env', 'OPENAI_API_KEY', true],
        ['api_key', 'default', false],
      ],
    );
    assert.ok(!status.stdout.includes(fromEnv) && !status.stdout.includes(stored), 'status shows keys masked');
    assert.match(entry.key, /^sk-pro…wxyz$/);
    const text = await runCli(['status', 'openai'], { home, env: { ...ENV, ...env } });
    assert.match(text.stdout, /env OPENAI_API_KEY .*← in effect/);
  });

  test('profiles: several keys per provider, switch, logout of one leaves the other', async () => {
    const home = await homeAgainst(standIns);
    const personal = standIns.goodKeyFor('mistral');
    assert.equal((await login(home, 'mistral', personal)).code, 0);
    assert.equal((await login(home, 'mistral', personal, ['--profile', 'work', '--no-verify'])).code, 0);
    assert.equal((await runCli(['token', 'mistral', '--profile', 'work'], { home, env: ENV })).stdout, `${personal}\n`);
    assert.equal((await runCli(['switch', 'mistral', 'nowhere'], { home, env: ENV })).code, 3);
    assert.equal((await runCli(['switch', 'mistral', 'work'], { home, env: ENV })).code, 0);
    const status = JSON.parse((await runCli(['status', 'mistral', '--json'], { home, env: ENV })).stdout) as {
      providers: Array<{ profile: string; sources: unknown[] }>;
    };
    assert.equal(status.providers[0]?.profile, 'work');
    assert.equal(status.providers[0]?.sources.length, 2);
    const logout = await runCli(['logout', 'mistral'], { home, env: ENV });
    assert.equal(logout.code, 0);
    assert.match(logout.stderr, /profile "work"/);
    assert.equal(
      (await runCli(['token', 'mistral', '--profile', 'default'], { home, env: ENV })).stdout,
      `${personal}\n`,
      'the other profile is untouched',
    );
    assert.equal((await runCli(['token', 'mistral', '--profile', 'work'], { home, env: ENV })).code, 3);
    assert.equal((await runCli(['token', 'mistral'], { home, env: { ...ENV, LOGINKIT_PROFILE: 'default' } })).code, 0);
  });

  test('exec: the child sees the key in the conventional variables, the parent never does, and the exit status passes through', async () => {
    const home = await homeAgainst(standIns);
    const openai = standIns.goodKeyFor('openai');
    const gemini = standIns.goodKeyFor('gemini');
    assert.equal((await login(home, 'openai', openai)).code, 0);
    assert.equal((await login(home, 'gemini', gemini)).code, 0);
    const script =
      'process.stdout.write(JSON.stringify({o:process.env.OPENAI_API_KEY,g:process.env.GEMINI_API_KEY,gg:process.env.GOOGLE_API_KEY,p:process.env.LOGINKIT_PASSPHRASE})); process.exit(7)';
    // `exec` runs as a process: its child inherits the real stdout and exit status.
    const result = await runCliProcess(['exec', 'openai,gemini', '--', process.execPath, '-e', script], { home, env: ENV });
    assert.equal(result.code, 7, result.stderr);
    const seen = JSON.parse(result.stdout) as Record<string, string | undefined>;
    assert.equal(seen.o, openai);
    assert.equal(seen.g, gemini);
    assert.equal(seen.gg, gemini, 'every variable the SDK reads gets the stored key');
    assert.equal(seen.p, undefined);
    assert.equal(process.env.OPENAI_API_KEY, undefined, 'nothing leaked into this process');
    const missing = await runCliProcess(['exec', 'openai', '--', 'definitely-not-a-command-here'], { home, env: ENV });
    assert.equal(missing.code, 127);
    const notSignedIn = await runCli(['exec', 'groq', '--', process.execPath, '-e', '0'], { home, env: ENV });
    assert.equal(notSignedIn.code, 3);
    assert.match(notSignedIn.stderr, /loginkit login groq/);
  });

  test('exec reads its options wherever they stand before `--`, and gives the command its own options after it', async () => {
    const home = await homeAgainst(standIns);
    const personal = standIns.goodKeyFor('openai');
    const work = `${personal.slice(0, -4)}WORK`;
    assert.equal((await login(home, 'openai', personal)).code, 0);
    assert.equal((await login(home, 'openai', work, ['--profile', 'work', '--no-verify'])).code, 0);
    const seen = join(home, 'seen.json');
    const script = join(home, 'child.cjs');
    await writeFile(
      script,
      `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ key: process.env.OPENAI_API_KEY, argv: process.argv.slice(2) }))`,
    );
    for (const argv of [
      ['exec', 'openai', '--profile', 'work', '--', process.execPath, script, '--profile', 'mine'],
      ['exec', '--profile', 'work', 'openai', '--', process.execPath, script, '--profile', 'mine'],
      ['exec', 'openai', '--profile=work', '--source', 'store', '--', process.execPath, script, '--profile', 'mine'],
    ]) {
      const result = await runCli(argv, { home, env: ENV });
      assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stderr}`);
      const child = JSON.parse(await readFile(seen, 'utf8')) as { key: string; argv: string[] };
      assert.equal(child.key, work, `${argv.join(' ')}: the work profile's key`);
      assert.deepEqual(child.argv, ['--profile', 'mine'], 'what follows `--` is the command’s, untouched');
    }
    const unknown = await runCli(['exec', 'openai', '--bogus', '--', process.execPath, '-e', '0'], { home, env: ENV });
    assert.equal(unknown.code, 2, 'an unknown option before `--` is a usage error, not a program to run');
    assert.match(unknown.stderr, /unknown option '--bogus'[\s\S]*go after --/);
  });

  test('exec passes signals through to the child', async () => {
    const home = await homeAgainst(standIns);
    assert.equal((await login(home, 'xai', standIns.goodKeyFor('xai'))).code, 0);
    const script =
      "process.on('SIGTERM',()=>{process.stdout.write('got SIGTERM');process.exit(42)}); process.stdout.write('ready'); setInterval(()=>{},1000)";
    const cli = spawnCli(['exec', 'xai', '--', process.execPath, '-e', script], { home, env: ENV });
    await cli.waitFor(/ready/);
    cli.child.kill('SIGTERM');
    const result = await cli.exited;
    assert.match(result.stdout, /got SIGTERM/);
    assert.equal(result.code, 42);
  });
});

describe('providers adjusted or declared in config.json', () => {
  test('a custom API-key provider: its header, validation request, env var and extra headers are used', async () => {
    const seen: Array<{ path: string; header: string | undefined; extra: string | undefined }> = [];
    const gateway = await startHttpServer((req, res) => {
      seen.push({
        path: req.url ?? '',
        header: req.headers['x-gateway-key'] as string | undefined,
        extra: req.headers['x-team'] as string | undefined,
      });
      res.writeHead(req.headers['x-gateway-key'] === 'gw-good-key-123456' ? 200 : 403).end('{}');
    });
    try {
      const home = await makeHome();
      await writeFile(
        join(home, 'config.json'),
        JSON.stringify({
          providers: {
            gateway: {
              type: 'api_key',
              displayName: 'Team gateway',
              baseUrl: `${gateway.url}/v1`,
              header: { name: 'x-gateway-key' },
              headers: { 'x-team': 'ml' },
              validationPath: '/whoami',
              envVar: 'GATEWAY_KEY',
            },
          },
        }),
        { mode: 0o600 },
      );
      const bad = await login(home, 'gateway', 'gw-wrong-key-000000');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Team gateway rejected this API key \(HTTP 403\)/);
      const good = await login(home, 'gateway', 'gw-good-key-123456');
      assert.equal(good.code, 0, good.stderr);
      assert.deepEqual(seen.at(-1), { path: '/v1/whoami', header: 'gw-good-key-123456', extra: 'ml' });
      const probe = 'process.stdout.write(process.env.GATEWAY_KEY ?? "")';
      const exec = await runCliProcess(['exec', 'gateway', '--', process.execPath, '-e', probe], { home, env: ENV });
      assert.equal(exec.stdout, 'gw-good-key-123456');
      const providers = JSON.parse((await runCli(['providers', '--json'], { home, env: ENV })).stdout) as {
        providers: Array<{ id: string; builtin: boolean; envVars: string[] }>;
      };
      assert.deepEqual(
        providers.providers.find((p) => p.id === 'gateway'),
        { ...providers.providers.find((p) => p.id === 'gateway'), builtin: false, envVars: ['GATEWAY_KEY'] },
      );
    } finally {
      await gateway.close();
    }
  });

  test('an invalid adjustment of a built-in is reported with the file, provider and field', async () => {
    const home = await makeHome();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { openai: { baseUrl: 'http://api.example.com/v1' } } }));
    const result = await runCli(['token', 'openai'], { home, env: ENV });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /config\.json: provider "openai": field baseUrl must use https/);
  });
});
