import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { createLoginkit, isLoginRequired } from '../../src/index.js';
import { readDocs } from '../helpers/docs.js';
import { CLI_ENTRY, cliEnvironment, makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';
import { OPENAI_KEY, PASSPHRASE, agentOn, homeWithKeys } from './support.js';

describe('loginkit agent: clients ask it instead of opening the store', () => {
  test('the library gets the key of a passphrase store through the agent, with no passphrase in the client', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    const env = { LOGINKIT_STORE: 'passphrase', LOGINKIT_AGENT_SOCK: agent.socket };
    const kit = createLoginkit({ home, env });
    assert.equal(await kit.getToken('openai'), OPENAI_KEY);
    assert.deepEqual(await kit.getTokenInfo('openai'), { token: OPENAI_KEY, expiresAt: null, type: 'api_key' });
    const [status] = await kit.status('openai');
    assert.equal(status?.source, 'store');
    await kit.close();
    // Without the agent the same client has no way in: the agent was what answered.
    const alone = createLoginkit({ home, env: { LOGINKIT_STORE: 'passphrase' } });
    await assert.rejects(alone.getToken('openai'), /passphrase/);
  });

  test("the client's own key variable still wins, and --source store still reaches the agent", async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    const env = { LOGINKIT_AGENT_SOCK: agent.socket, OPENAI_API_KEY: 'sk-from-the-environment' };
    const kit = createLoginkit({ home, env });
    assert.equal(await kit.getToken('openai'), 'sk-from-the-environment');
    assert.equal(await kit.getToken('openai', { source: 'store' }), OPENAI_KEY);
    await assert.rejects(
      createLoginkit({ home, env: { LOGINKIT_AGENT_SOCK: agent.socket } }).getToken('anthropic', { source: 'env' }),
      (error) => isLoginRequired(error),
    );
  });

  test('`loginkit token` and `status` through the agent; errors come back as the CLI would print them', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    const env = { LOGINKIT_STORE: 'passphrase', LOGINKIT_AGENT_SOCK: agent.socket };
    const token = await runCli(['token', 'openai'], { home, env });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, `${OPENAI_KEY}\n`);
    const status = await runCli(['status', 'openai', '--json'], { home, env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"source": "store"/);
    const unknown = await runCli(['token', 'gemini'], { home, env });
    assert.equal(unknown.code, 3, 'not signed in: exit 3, as without the agent');
    assert.match(unknown.stderr, /^error: .*gemini.*\nRun: loginkit login gemini\n$/);
  });

  test("project rules choose the profile by the client's working directory, not the agent's", async () => {
    const project = await makeHome();
    const home = await homeWithKeys();
    const config = join(home, 'config.json');
    await writeFile(config, JSON.stringify({ profileRules: [{ directory: project, profile: 'work' }] }), { mode: 0o600 });
    const work = 'sk-proj-workPROFILEkey0123456789abcdefgh';
    await createLoginkit({ home, env: { LOGINKIT_PASSPHRASE: PASSPHRASE } }).loginWithApiKey('openai', work, {
      profile: 'work',
      verify: false,
    });
    const agent = await agentOn(home);
    const env = { LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_AGENT_ONLY: '1' };
    assert.equal((await runCli(['token', 'openai'], { home, env, cwd: project })).stdout, `${work}\n`);
    assert.equal((await runCli(['token', 'openai'], { home, env, cwd: home })).stdout, `${OPENAI_KEY}\n`);
  });

  test('a gone agent: the store answers, or with LOGINKIT_AGENT_ONLY=1 one line naming the agent and exit 1', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    await agent.close();
    const env = { LOGINKIT_STORE: 'passphrase', LOGINKIT_PASSPHRASE: PASSPHRASE, LOGINKIT_AGENT_SOCK: agent.socket };
    const fallback = await runCli(['token', 'openai'], { home, env });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout, `${OPENAI_KEY}\n`);
    const only = await runCli(['token', 'openai'], { home, env: { ...env, LOGINKIT_AGENT_ONLY: '1' } });
    assert.equal(only.code, 1);
    assert.equal(only.stdout, '');
    assert.match(only.stderr, /^error: loginkit agent at \/.*agent\.sock is not running.*\nStart one: eval "\$\(loginkit agent start\)"/);
    assert.equal(only.stderr.split('\n').filter(Boolean).length, 2);
  });

  test('a socket whose folder other users can enter is refused before connecting', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    await chmod(dirname(agent.socket), 0o755);
    try {
      const kit = createLoginkit({ home, env: { LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_PASSPHRASE: PASSPHRASE } });
      await assert.rejects(kit.getToken('openai'), /Refusing the agent socket .*open to other users \(mode 755/);
      const cli = await runCli(['token', 'openai'], { home, env: { LOGINKIT_AGENT_SOCK: agent.socket } });
      assert.equal(cli.code, 1);
      assert.equal(cli.stdout, '');
    } finally {
      await chmod(dirname(agent.socket), 0o700);
    }
  });

  test("the agent's socket is 0600 in a fresh 0700 folder, removed when it stops", async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    assert.equal((await stat(agent.socket)).mode & 0o777, 0o600);
    assert.equal((await stat(dirname(agent.socket))).mode & 0o777, 0o700);
    const second = await agentOn(home);
    assert.notEqual(dirname(second.socket), dirname(agent.socket), 'every agent gets a fresh folder');
    const stopped = await runCli(['agent', 'stop'], { home, env: { LOGINKIT_AGENT_SOCK: agent.socket } });
    assert.equal(stopped.code, 0, stopped.stderr);
    await agent.closed;
    await assert.rejects(stat(dirname(agent.socket)), { code: 'ENOENT' });
  });

  test('a home too deep for a socket address: the agent folder goes to the temporary folder, still private', async () => {
    const home = join(await makeHome(), 'd'.repeat(60), 'e'.repeat(60));
    const agent = await agentOn(home, { LOGINKIT_STORE: 'file' });
    assert.ok(agent.socket.startsWith(tmpdir()), agent.socket);
    assert.equal((await stat(dirname(agent.socket))).mode & 0o777, 0o700);
    const status = await runCli(['status', '--json'], {
      home,
      env: { LOGINKIT_STORE: 'file', LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_AGENT_ONLY: '1' },
    });
    assert.equal(status.code, 0, status.stderr);
  });

  test('agent lock forgets the store until agent unlock; --lock-after does it when idle', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    const env = { LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_AGENT_ONLY: '1' };
    assert.equal((await runCli(['agent', 'lock'], { home, env })).code, 0);
    const locked = await runCli(['token', 'openai'], { home, env });
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /locked\.\nUnlock it: loginkit agent unlock/);
    const wrong = await runCli(['agent', 'unlock'], { home, env: { ...env, LOGINKIT_PASSPHRASE: 'not it' } });
    assert.notEqual(wrong.code, 0);
    assert.equal((await runCli(['agent', 'unlock'], { home, env: { ...env, LOGINKIT_PASSPHRASE: PASSPHRASE } })).code, 0);
    assert.equal((await runCli(['token', 'openai'], { home, env })).stdout, `${OPENAI_KEY}\n`);

    const idle = await agentOn(home, {}, { lockAfterMs: 50 });
    const idleEnv = { LOGINKIT_AGENT_SOCK: idle.socket, LOGINKIT_AGENT_ONLY: '1' };
    assert.equal((await runCli(['token', 'openai'], { home, env: idleEnv })).code, 0);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const after = await runCli(['agent', 'status', '--json'], { home, env: idleEnv });
    assert.match(after.stdout, /"locked": true/);
  });
});

describe('loginkit agent: one refresh for everyone', () => {
  const fixture = useSignInServer({ accessTokenTtl: 600, rotateRefreshTokens: true });

  test('16 clients through the agent and 16 `token` processes on the store, one expired sign-in: exactly one refresh', async () => {
    const { server } = fixture;
    const home = await fixture.signedInHome('demo');
    await expireStoredToken(home, 'demo');
    const agent = await agentOn(home, { LOGINKIT_STORE: 'file' });
    const before = server.stats.refreshGrants;
    const viaAgent = Array.from({ length: 16 }, () =>
      createLoginkit({ home, env: { LOGINKIT_STORE: 'file', LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_AGENT_ONLY: '1' } }).getToken(
        'demo',
      ),
    );
    const direct = Array.from({ length: 16 }, () => runCliProcess(['token', 'demo'], { home, env: { LOGINKIT_STORE: 'file' } }));
    const [tokens, processes] = await Promise.all([Promise.all(viaAgent), Promise.all(direct)]);
    for (const result of processes) assert.equal(result.code, 0, result.stderr);
    assert.equal(new Set([...tokens, ...processes.map((result) => result.stdout.trim())]).size, 1);
    assert.equal(server.stats.refreshGrants - before, 1);
  });
});

describe('loginkit agent start', () => {
  test('prints only the eval line, keeps no stream of ours, survives a stale variable; agent stop ends it within 5 s', async () => {
    const home = await homeWithKeys();
    const env = { LOGINKIT_STORE: 'passphrase', LOGINKIT_PASSPHRASE: PASSPHRASE, LOGINKIT_AGENT_SOCK: `${home}/gone/agent.sock` };
    // runCliProcess waits for stdout and stderr to close: a background agent holding them would fail this run.
    const started = await runCliProcess(['agent', 'start'], { home, env, timeoutMs: 20_000 });
    assert.equal(started.code, 0, started.stderr);
    const match = /^LOGINKIT_AGENT_SOCK=(\/\S+); export LOGINKIT_AGENT_SOCK;\n$/.exec(started.stdout);
    assert.ok(match, started.stdout);
    const socket = match[1] as string;
    const clientEnv = { LOGINKIT_STORE: 'passphrase', LOGINKIT_AGENT_SOCK: socket };
    const token = await runCliProcess(['token', 'openai'], { home, env: clientEnv });
    assert.equal(token.stdout, `${OPENAI_KEY}\n`, token.stderr);
    const status = await runCliProcess(['agent', 'status'], { home, env: clientEnv });
    assert.equal(status.code, 0);
    const pid = Number(/^loginkit agent (\d+)/.exec(status.stderr)?.[1]);
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    assert.ok(!environ.includes(PASSPHRASE), 'the passphrase went over a pipe, not the environment');
    assert.ok(!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(PASSPHRASE));
    const begun = Date.now();
    assert.equal((await runCliProcess(['agent', 'stop'], { home, env: clientEnv })).code, 0);
    await waitUntil(
      async () =>
        stat(socket).then(
          () => false,
          () => true,
        ),
      5_000,
    );
    assert.ok(Date.now() - begun < 5_000);
  });

  test('SIGTERM ends a foreground agent within 5 s and removes its socket; a stale socket does not stop the next one', async () => {
    const home = await makeHome();
    const env = { LOGINKIT_STORE: 'file' };
    const { spawnCli } = await import('../helpers/cli.js');
    const first = spawnCli(['agent'], { home, env });
    const socket = (await first.waitFor(/^LOGINKIT_AGENT_SOCK=(\S+);/))[1] as string;
    first.child.kill('SIGKILL');
    await first.exited;
    await stat(socket); // left behind by the killed agent
    const second = spawnCli(['agent'], { home, env: { ...env, LOGINKIT_AGENT_SOCK: socket } });
    const fresh = (await second.waitFor(/^LOGINKIT_AGENT_SOCK=(\S+);/))[1] as string;
    assert.notEqual(fresh, socket);
    const begun = Date.now();
    second.child.kill('SIGTERM');
    const ended = await second.exited;
    assert.equal(ended.code, 0, `${ended.signal} ${ended.stderr}`);
    assert.ok(Date.now() - begun < 5_000);
    await assert.rejects(stat(fresh), { code: 'ENOENT' });
    const stale = await runCliProcess(['token', 'openai'], {
      home,
      env: { ...env, LOGINKIT_AGENT_SOCK: socket, LOGINKIT_AGENT_ONLY: '1' },
    });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /^error: loginkit agent at .* is not answering \(ECONNREFUSED\)\./);
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('loginkit agent for containers', () => {
  test('a mounted socket serves a process with another HOME, LOGINKIT_HOME and working directory', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home);
    const elsewhere = await makeHome();
    const result = await runCliProcess(['token', 'openai'], {
      home: elsewhere,
      cwd: elsewhere,
      env: { HOME: elsewhere, LOGINKIT_AGENT_SOCK: agent.socket, LOGINKIT_AGENT_ONLY: '1' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${OPENAI_KEY}\n`);
  });

  test('the loopback TCP listener answers only with its token', async () => {
    const home = await homeWithKeys();
    const agent = await agentOn(home, {}, { tcpPort: 0 });
    assert.match(agent.tcp?.address ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/);
    const env = { LOGINKIT_AGENT_SOCK: agent.tcp?.address, LOGINKIT_AGENT_TOKEN: agent.tcp?.token, LOGINKIT_AGENT_ONLY: '1' };
    const elsewhere = await makeHome();
    const good = await runCli(['token', 'openai'], { home: elsewhere, env });
    assert.equal(good.stdout, `${OPENAI_KEY}\n`, good.stderr);
    const forged = await runCli(['token', 'openai'], { home: elsewhere, env: { ...env, LOGINKIT_AGENT_TOKEN: 'not-the-token' } });
    assert.equal(forged.code, 1);
    assert.equal(forged.stdout, '');
    assert.match(forged.stderr, /^error: loginkit agent at tcp:\/\/127\.0\.0\.1:\d+ ended before it answered\./);
    const missing = await runCli(['token', 'openai'], { home: elsewhere, env: { ...env, LOGINKIT_AGENT_TOKEN: undefined } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /needs LOGINKIT_AGENT_TOKEN/);
  });
});

describe('the README', () => {
  test('"Secrets out of reach: loginkit agent": its commands run as shown', async () => {
    const readme = await readDocs();
    const section = readme.slice(readme.indexOf('## Secrets out of reach: loginkit agent'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] as string;
    assert.match(block, /^eval "\$\(loginkit agent start\)"/);
    assert.match(block, /^loginkit exec --broker openai,anthropic -- agent-cli /m);
    const home = await homeWithKeys();
    const bin = await mkdtemp(join(tmpdir(), 'loginkit-bin-'));
    await symlink(CLI_ENTRY, join(bin, 'loginkit'));
    await writeFile(
      join(bin, 'agent-cli'),
      '#!/bin/sh\ncase "$OPENAI_API_KEY$ANTHROPIC_API_KEY" in lk-agent-*lk-agent-*) echo "agent-cli: placeholders";; *) echo "agent-cli: KEYS";; esac\n',
      {
        mode: 0o755,
      },
    );
    const env = cliEnvironment(home, {
      LOGINKIT_STORE: 'passphrase',
      LOGINKIT_PASSPHRASE: PASSPHRASE,
      LOGINKIT_AGENT_ONLY: '1',
      PATH: `${bin}:${process.env.PATH}`,
    });
    const run = spawnSync('sh', ['-e', '-c', block], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `${OPENAI_KEY}\nagent-cli: placeholders\n`);
    assert.match(run.stderr, /^Audit log: .*agent-audit\.jsonl$/m);
    assert.match(run.stderr, /The loginkit agent is locked/);
    assert.match(run.stderr, /The loginkit agent has stopped\./);
  });
});
