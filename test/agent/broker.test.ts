import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_ENTRY, makeHome, runCliProcess, spawnCli } from '../helpers/cli.js';
import { type SdkStandIns, startSdkStandIns } from '../helpers/sdk-stand-ins.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken, seedValidToken } from '../helpers/store-fixtures.js';
import { ANTHROPIC_KEY, OPENAI_KEY, PASSPHRASE, agentOn, homeWithKeys } from './support.js';

const CHILD = fileURLToPath(new URL('./brokered-child.mjs', import.meta.url));

interface ChildReport {
  pid: number;
  models: string[];
  chat: string;
  streamed: string;
  arrivals: number[];
  message: string;
  anthropicStreamed: string;
  escape: number | string;
}

describe('exec --broker: the child gets placeholders, the proxy adds the keys', () => {
  let stand: SdkStandIns;
  before(async () => {
    stand = await startSdkStandIns();
    stand.accepted.add(OPENAI_KEY);
    stand.accepted.add(ANTHROPIC_KEY);
  });
  after(() => stand.close());

  const providers = (): Record<string, unknown> => ({
    openai: { baseUrl: `${stand.url}/openai/v1` },
    anthropic: { baseUrl: `${stand.url}/anthropic` },
  });

  test('the openai and anthropic SDKs work (streams as they arrive) while the child holds only its capability', async () => {
    const home = await homeWithKeys(providers());
    const agent = await agentOn(home);
    stand.streamGapMs = 150;
    stand.gzip = true;
    const env = {
      LOGINKIT_STORE: 'passphrase',
      LOGINKIT_AGENT_SOCK: agent.socket,
      OPENAI_API_KEY: undefined,
      ANTHROPIC_API_KEY: undefined,
    };
    const run = spawnCli(['exec', '--broker', 'openai,anthropic', '--', process.execPath, CHILD], { home, env, timeoutMs: 30_000 });
    try {
      const line = (await run.waitFor(/^\{.*\}$/m, 'stdout', 20_000))[0];
      const report = JSON.parse(line) as ChildReport;
      assert.deepEqual(report.models, ['gpt-test'], 'a gzip answer reached the SDK intact');
      assert.equal(report.chat, 'hello from openai');
      assert.equal(report.streamed, 'hello from openai');
      assert.equal(report.message, 'hello from anthropic');
      assert.equal(report.anthropicStreamed, 'hello from anthropic');
      assert.ok(
        (report.arrivals.at(-1) ?? 0) - (report.arrivals[0] ?? 0) >= 200,
        `chunks arrived as sent, not at once: ${report.arrivals}`,
      );
      assert.equal(report.escape, 400, "an encoded ../ does not leave the provider's base URL");

      const environ = (await readFile(`/proc/${report.pid}/environ`, 'utf8')).split('\0');
      const capability = environ.find((entry) => entry.startsWith('OPENAI_API_KEY='))?.slice('OPENAI_API_KEY='.length) ?? '';
      assert.match(capability, /^lk-agent-[\w-]{40,}$/);
      assert.ok(environ.includes(`ANTHROPIC_API_KEY=${capability}`), 'one capability per child, for both providers');
      assert.ok(
        environ.some(
          (entry) => entry === `OPENAI_BASE_URL=${new URL(environ.find((e) => e.startsWith('OPENAI_BASE_URL='))!.slice(16)).origin}/openai`,
        ),
      );
      const everything = environ.join('\n') + (await readFile(`/proc/${report.pid}/cmdline`, 'utf8'));
      for (const secret of [OPENAI_KEY, ANTHROPIC_KEY, PASSPHRASE, agent.socket])
        assert.ok(!everything.includes(secret), `the child cannot see ${secret.slice(0, 12)}…`);

      const seen = stand.requests.filter((request) => request.service === 'openai').at(-1);
      assert.equal(seen?.headers.authorization, `Bearer ${OPENAI_KEY}`);
      assert.equal(seen?.headers.host, new URL(stand.url).host, 'the upstream got its own Host');
      assert.ok(!JSON.stringify(stand.requests).includes(capability), 'the capability never goes upstream');

      const status = await runCliProcess(['agent', 'status'], { home, env: { LOGINKIT_AGENT_SOCK: agent.socket } });
      assert.match(status.stderr, new RegExp(`PID ${report.pid} \\(\\w+\\): openai, anthropic`));
      const auditLog = /^Audit log: (.+)$/m.exec(status.stderr)?.[1] as string;
      assert.equal(auditLog, join(home, 'agent-audit.jsonl'));

      const child = run.child;
      child.stdin.write('done\n');
      const ended = await run.exited;
      assert.equal(ended.code, 0, ended.stderr);

      // No grace period: the capability is refused as soon as exec has returned.
      const origin = new URL(environ.find((e) => e.startsWith('OPENAI_BASE_URL='))!.slice(16)).origin;
      const after = await fetch(`${origin}/openai/models`, { headers: { authorization: `Bearer ${capability}` } });
      assert.equal(after.status, 401);
      const gone = await runCliProcess(['agent', 'status'], { home, env: { LOGINKIT_AGENT_SOCK: agent.socket } });
      assert.match(gone.stderr, /No brokered children\./);

      const lines = (await readFile(auditLog, 'utf8'))
        .trim()
        .split('\n')
        .map((entry) => JSON.parse(entry) as Record<string, unknown>);
      assert.equal(lines.length, 5, 'one line per forwarded request (the refused ones are not forwarded)');
      assert.deepEqual(Object.keys(lines[0] ?? {}), ['time', 'child', 'pid', 'provider', 'method', 'host', 'path', 'status', 'bytes']);
      assert.deepEqual(
        lines.map((entry) => `${entry.provider} ${entry.method} ${entry.path} ${entry.status}`),
        [
          'openai GET /openai/v1/models 200',
          'openai POST /openai/v1/chat/completions 200',
          'openai POST /openai/v1/chat/completions 200',
          'anthropic POST /anthropic/v1/messages 200',
          'anthropic POST /anthropic/v1/messages 200',
        ],
      );
      const text = await readFile(auditLog, 'utf8');
      for (const secret of [OPENAI_KEY, ANTHROPIC_KEY, capability, PASSPHRASE]) assert.ok(!text.includes(secret));
    } finally {
      stand.streamGapMs = 0;
      stand.gzip = false;
      run.child.kill();
    }
  });

  test('the proxy refuses a forged capability, another provider, dot segments, absolute-form, CONNECT, and steers by no Host', async () => {
    const home = await homeWithKeys(providers());
    const agent = await agentOn(home);
    const env = { LOGINKIT_AGENT_SOCK: agent.socket };
    const script = `process.stdout.write(JSON.stringify({key: process.env.OPENAI_API_KEY, base: process.env.OPENAI_BASE_URL, anthropic: process.env.ANTHROPIC_API_KEY ?? null}) + '\\n'); process.stdin.once('data', () => process.exit(0));`;
    const run = spawnCli(['exec', '--broker', 'openai', '--', process.execPath, '-e', script], { home, env, timeoutMs: 20_000 });
    try {
      const { key, base, anthropic } = JSON.parse((await run.waitFor(/^\{.*\}$/m))[0]) as {
        key: string;
        base: string;
        anthropic: string | null;
      };
      assert.equal(anthropic, null, 'only the providers named');
      const origin = new URL(base).origin;
      const get = (path: string, headers: Record<string, string> = {}): Promise<number> =>
        fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${key}`, ...headers } }).then((response) => response.status);
      assert.equal(await get('/openai/models'), 200);
      assert.equal(await get('/openai/models', { authorization: `Bearer lk-agent-${'A'.repeat(43)}` }), 401, 'a forged capability');
      assert.equal(await get('/anthropic/v1/messages', { 'x-api-key': key }), 401, 'a provider the capability does not name');
      assert.equal(await get('/openai/models', { host: 'evil.example' }), 200, 'Host does not steer');
      assert.equal(stand.requests.at(-1)?.headers.host, new URL(stand.url).host);
      // Raw requests: fetch would resolve the dot segments itself before sending.
      for (const path of [
        '/openai/%2e%2e/%2e%2e/anthropic/v1/messages',
        '/openai/../../x',
        '/openai/.%2E/x',
        '/openai/a%2fb',
        '/openai/a%5c..%5cb',
      ]) {
        assert.equal(await rawStatus(origin, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`), 400, path);
      }
      assert.equal(
        await rawStatus(
          origin,
          `GET http://evil.example/openai/models HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${key}\r\n\r\n`,
        ),
        400,
      );
      assert.equal(await rawStatus(origin, 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'), 405);
      run.child.stdin.write('x\n');
      assert.equal((await run.exited).code, 0);
    } finally {
      run.child.kill();
    }
  });

  test('inside a brokered child, `loginkit token <id> --source store` cannot reach the key', async () => {
    const home = await homeWithKeys(providers());
    const agent = await agentOn(home);
    const inside = await runCliProcess(
      ['exec', '--broker', 'openai', '--', process.execPath, CLI_ENTRY, 'token', 'openai', '--source', 'store'],
      {
        home,
        env: { LOGINKIT_STORE: 'passphrase', LOGINKIT_AGENT_SOCK: agent.socket },
      },
    );
    assert.notEqual(inside.code, 0);
    assert.ok(!inside.stdout.includes(OPENAI_KEY) && !inside.stderr.includes(OPENAI_KEY));
    assert.match(inside.stderr, /passphrase/);
  });

  test("a ChatGPT sign-in's exchanged key goes through the proxy too; the child holds the access token and the placeholder", async () => {
    const home = await makeHome();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: providers() }));
    await seedValidToken(home, 'openai', 'openai-access-token');
    const path = join(home, 'credentials.json');
    const file = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, Record<string, unknown>> };
    const exchanged = 'sk-proj-exchangedKEY0123456789abcdefghij';
    for (const entry of Object.values(file.entries)) entry.apiKey = exchanged;
    await writeFile(path, JSON.stringify(file));
    stand.accepted.add(exchanged);
    const agent = await agentOn(home, { LOGINKIT_STORE: 'file' });
    const script =
      "const r = await fetch(process.env.OPENAI_BASE_URL + '/models', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } }); console.log(JSON.stringify({ status: r.status, env: process.env }));";
    const run = await runCliProcess(['exec', '--broker', 'openai', '--', process.execPath, '--input-type=module', '-e', script], {
      home,
      env: { LOGINKIT_STORE: 'file', LOGINKIT_AGENT_SOCK: agent.socket },
    });
    assert.equal(run.code, 0, run.stderr);
    const { status, env } = JSON.parse(run.stdout) as { status: number; env: Record<string, string> };
    assert.equal(status, 200);
    assert.equal(env.OPENAI_ACCESS_TOKEN, 'openai-access-token');
    assert.match(env.OPENAI_API_KEY ?? '', /^lk-agent-/);
    assert.ok(!run.stdout.includes(exchanged) && !run.stdout.includes('openai-refresh'));
    assert.equal(stand.requests.at(-1)?.headers.authorization, `Bearer ${exchanged}`);
  });

  test('--ttl ends the capability while the child still runs; a key without a base-URL variable is refused', async () => {
    const home = await homeWithKeys(providers());
    const agent = await agentOn(home);
    const env = { LOGINKIT_AGENT_SOCK: agent.socket };
    const script = `process.stdout.write(JSON.stringify({key: process.env.OPENAI_API_KEY, base: process.env.OPENAI_BASE_URL}) + '\\n'); process.stdin.once('data', () => process.exit(0));`;
    const run = spawnCli(['exec', '--broker', 'openai', '--ttl', '1', '--', process.execPath, '-e', script], {
      home,
      env,
      timeoutMs: 20_000,
    });
    try {
      const { key, base } = JSON.parse((await run.waitFor(/^\{.*\}$/m))[0]) as { key: string; base: string };
      const status = (): Promise<number> => fetch(`${base}/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
      assert.equal(await status(), 200);
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      assert.equal(await status(), 401);
      run.child.stdin.write('x\n');
      await run.exited;
    } finally {
      run.child.kill();
    }
    await runCliProcess(['login', 'mistral', '--with-api-key', '--no-verify'], {
      home,
      env: { LOGINKIT_PASSPHRASE: PASSPHRASE },
      input: 'mistralTESTkey0123456789abcdefgh',
    });
    const refused = await runCliProcess(['exec', '--broker', 'mistral', '--', 'true'], { home, env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: "mistral"'s SDK reads no base-URL variable, so its key cannot be brokered/);
  });
});

/** Sends `request` as raw bytes and returns the status code of the answer. */
async function rawStatus(origin: string, request: string): Promise<number> {
  const { connect } = await import('node:net');
  const { port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`no status: ${answer}`)));
  });
}

describe('exec --broker with a sign-in, and an agent that dies', () => {
  const fixture = useSignInServer({ accessTokenTtl: 600, rotateRefreshTokens: true });

  test('16 brokered children and 16 `token` processes on one expired sign-in: one refresh; children get the access token only', async () => {
    const { server } = fixture;
    const home = await fixture.signedInHome('demo');
    await expireStoredToken(home, 'demo');
    const stored = await readFile(join(home, 'credentials.json'), 'utf8');
    const refreshToken = /"refreshToken":\s*"([^"]+)"/.exec(stored)?.[1] as string;
    assert.ok(refreshToken);
    const agent = await agentOn(home, { LOGINKIT_STORE: 'file' });
    const before = server.stats.refreshGrants;
    const script = 'process.stdout.write(JSON.stringify(process.env))';
    const brokered = Array.from({ length: 16 }, () =>
      runCliProcess(['exec', '--broker', 'demo', '--', process.execPath, '-e', script], {
        home,
        env: { LOGINKIT_STORE: 'file', LOGINKIT_AGENT_SOCK: agent.socket },
      }),
    );
    const direct = Array.from({ length: 16 }, () => runCliProcess(['token', 'demo'], { home, env: { LOGINKIT_STORE: 'file' } }));
    const [children, tokens] = await Promise.all([Promise.all(brokered), Promise.all(direct)]);
    for (const result of [...children, ...tokens]) assert.equal(result.code, 0, result.stderr);
    const fromChildren = children.map((result) => (JSON.parse(result.stdout) as Record<string, string>).DEMO_ACCESS_TOKEN);
    assert.equal(new Set([...fromChildren, ...tokens.map((result) => result.stdout.trim())]).size, 1);
    assert.equal(server.stats.refreshGrants - before, 1);
    const rotated = /"refreshToken":\s*"([^"]+)"/.exec(await readFile(join(home, 'credentials.json'), 'utf8'))?.[1] as string;
    assert.notEqual(rotated, refreshToken, 'the refresh rotated it');
    for (const result of children) {
      assert.ok(!result.stdout.includes(refreshToken) && !result.stdout.includes(rotated), 'no refresh token in a brokered child');
      assert.ok(!result.stdout.includes(agent.socket));
    }
  });

  test('the agent killed mid-stream: the stream ends with an error, exec says so in one line, the store is intact', async () => {
    const stand = await startSdkStandIns();
    stand.accepted.add(OPENAI_KEY);
    stand.streamGapMs = 1_000;
    try {
      const home = await homeWithKeys({ openai: { baseUrl: `${stand.url}/openai/v1` } });
      const storeBefore = await readFile(join(home, 'credentials.json'), 'utf8');
      const agentProcess = spawnCli(['agent'], {
        home,
        env: { LOGINKIT_STORE: 'passphrase', LOGINKIT_PASSPHRASE: PASSPHRASE },
        timeoutMs: 30_000,
      });
      const socket = (await agentProcess.waitFor(/^LOGINKIT_AGENT_SOCK=(\S+);/))[1] as string;
      const script = [
        "const { default: OpenAI } = await import('openai');",
        "const stream = await new OpenAI({ maxRetries: 0 }).chat.completions.create({ model: 'gpt-test', messages: [], stream: true });",
        "try { for await (const chunk of stream) console.log('CHUNK'); console.log('COMPLETE'); } catch (error) { console.log('ENDED', error.constructor.name); }",
      ].join('\n');
      const child = spawnCli(['exec', '--broker', 'openai', '--', process.execPath, '--input-type=module', '-e', script], {
        home,
        env: { LOGINKIT_AGENT_SOCK: socket },
        cwd: fileURLToPath(new URL('.', import.meta.url)),
        timeoutMs: 30_000,
      });
      await child.waitFor(/CHUNK/);
      agentProcess.child.kill('SIGKILL');
      const ended = await child.exited;
      assert.match(ended.stdout, /^ENDED \w+$/m, 'the stream in flight ended instead of hanging');
      assert.doesNotMatch(ended.stdout, /COMPLETE/);
      assert.deepEqual(ended.stderr.split('\n').filter(Boolean), [
        'error: the loginkit agent ended; ' + process.execPath + ' can no longer reach openai',
      ]);
      assert.equal(await readFile(join(home, 'credentials.json'), 'utf8'), storeBefore, 'the store is as it was');
      const token = await runCliProcess(['token', 'openai'], {
        home,
        env: { LOGINKIT_PASSPHRASE: PASSPHRASE, LOGINKIT_AGENT_SOCK: socket },
      });
      assert.equal(token.stdout, `${OPENAI_KEY}\n`, 'with the agent gone, token falls back to the store');
    } finally {
      await stand.close();
    }
  });
});
