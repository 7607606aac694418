// Credential helpers in: a provider's key from a command (argument vector, no shell), bounded in time,
// checked like a typed key, cached, re-run once after a 401, and never shown — not by status, not in errors.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { createLoginkit } from '../../src/index.js';
import { makeHome, spawnCli } from '../helpers/cli.js';
import { processGone } from '../helpers/processes.js';
import { type SdkStandIns, startSdkStandIns } from '../helpers/sdk-stand-ins.js';
import { KEY_COMMAND_CONFIG } from './readme-examples.js';
import { runLoginkit, writeScript } from './support.js';

const key = (): string => `sk-proj-${randomBytes(30).toString('hex')}`;

/** A key command that prints line N of `keys` on its Nth run (the last line from then on) and counts its runs. */
async function rotatingCommand(keys: string[]): Promise<{ argv: string[]; runs: () => Promise<number> }> {
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-keycmd-'));
  await writeFile(join(dir, 'keys'), keys.join('\n'));
  const script = await writeScript(
    'print-key.mjs',
    `import { readFileSync, writeFileSync, existsSync } from 'node:fs';
const dir = ${JSON.stringify(dir)};
const runs = existsSync(dir + '/runs') ? Number(readFileSync(dir + '/runs', 'utf8')) : 0;
writeFileSync(dir + '/runs', String(runs + 1));
const keys = readFileSync(dir + '/keys', 'utf8').split('\\n');
process.stdout.write('  ' + keys[Math.min(runs, keys.length - 1)] + '\\n\\n');`,
    dir,
  );
  return {
    argv: [process.execPath, script, 'op://vault/openai/key'],
    runs: async () => Number(await readFile(join(dir, 'runs'), 'utf8').catch(() => '0')),
  };
}

async function homeWith(entry: Record<string, unknown>): Promise<string> {
  const home = await makeHome();
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { openai: entry } }));
  return home;
}

describe('key commands', () => {
  let stand: SdkStandIns;
  before(async () => {
    stand = await startSdkStandIns();
  });
  after(async () => {
    await stand.close();
  });

  test('success: the trimmed key is used, cached for its lifetime, and token --json says until when', async () => {
    const good = key();
    const command = await rotatingCommand([good]);
    const home = await homeWith({ keyCommand: command.argv, keyCommandTtl: 60 });
    let now = 1_000_000;
    const kit = createLoginkit({ home, env: {}, store: 'memory', now: () => now });
    assert.equal(await kit.getToken('openai'), good);
    assert.equal(await kit.getToken('openai'), good);
    assert.equal(await command.runs(), 1, 'cached');
    const exec = await kit.execEnvironment(['openai']);
    assert.deepEqual(exec, {
      variables: { OPENAI_API_KEY: good },
      used: [{ provider: 'openai', source: 'command', variable: 'OPENAI_API_KEY' }],
    });
    assert.equal(await command.runs(), 1, 'exec uses the cached key too');
    now += 61_000;
    assert.deepEqual(await kit.getTokenInfo('openai'), { token: good, expiresAt: now + 60_000, type: 'api_key' });
    assert.equal(await command.runs(), 2, 'run again once the lifetime is over');

    const json = await runLoginkit(['token', 'openai', '--json'], { home });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { token: string; expiresAt: string; type: string };
    assert.equal(parsed.token, good);
    assert.equal(parsed.type, 'api_key');
    assert.ok(Date.parse(parsed.expiresAt) > Date.now());
  });

  test('the command does not get what unlocks the store: passphrase, data key, its command, database passwords, a password in the store URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-keycmd-env-'));
    const script = await writeScript(
      'print-env-key.mjs',
      `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(join(dir, 'env.json'))}, JSON.stringify(process.env));
process.stdout.write(${JSON.stringify(key())});`,
      dir,
    );
    const home = await homeWith({ keyCommand: [process.execPath, script] });
    const secrets = {
      LOGINKIT_PASSPHRASE: 'passphrase-for-the-store',
      LOGINKIT_DATA_KEY: Buffer.alloc(32, 9).toString('base64'),
      LOGINKIT_DATA_KEY_COMMAND: 'cat /run/secrets/data-key',
      PGPASSWORD: 'pg-password',
      PGPASSFILE: '/run/secrets/pgpass',
      PGSERVICEFILE: '/run/secrets/pg_service.conf',
      REDISCLI_AUTH: 'redis-password',
    };
    for (const store of ['redis://:db-password@127.0.0.1:1/0', 'postgres://fleet@db.example/fleet?sslmode=require&password=db-password']) {
      const kit = createLoginkit({ home, env: { ...secrets, LOGINKIT_STORE: store, KEEP_ME: 'yes' }, store: 'memory' });
      await kit.getToken('openai');
      const childEnv = JSON.parse(await readFile(join(dir, 'env.json'), 'utf8')) as Record<string, string>;
      assert.equal(childEnv.KEEP_ME, 'yes', 'the rest of the environment is inherited');
      for (const name of [...Object.keys(secrets), 'LOGINKIT_STORE'])
        assert.equal(childEnv[name], undefined, `${name} reached the key command (store ${store})`);
    }
  });

  test('keyCommandTtl 0 runs the command every time; "store" caching is shared by every client of the home', async () => {
    const good = key();
    const uncached = await rotatingCommand([good]);
    const kit = createLoginkit({ home: await homeWith({ keyCommand: uncached.argv, keyCommandTtl: 0 }), env: {}, store: 'memory' });
    await kit.getToken('openai');
    await kit.getToken('openai');
    assert.equal(await uncached.runs(), 2);

    const shared = await rotatingCommand([good]);
    const home = await homeWith({ keyCommand: shared.argv, keyCommandCache: 'store' });
    for (let i = 0; i < 3; i++) assert.equal(await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).getToken('openai'), good);
    assert.equal(await shared.runs(), 1);
  });

  test('status shows the command, never its output', async () => {
    const good = key();
    const command = await rotatingCommand([good]);
    const home = await homeWith({ keyCommand: command.argv });
    await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).getToken('openai');
    const text = await runLoginkit(['status', 'openai'], { home });
    const json = await runLoginkit(['status', 'openai', '--json'], { home });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /API key from the command `.*print-key\.mjs op:\/\/vault\/openai\/key`/);
    const status = (JSON.parse(json.stdout) as { providers: Array<{ source: string; command: string; key: null }> }).providers[0];
    assert.equal(status?.source, 'command');
    assert.match(status?.command ?? '', /print-key\.mjs op:\/\/vault\/openai\/key$/);
    for (const output of [text.stdout, text.stderr, json.stdout, json.stderr]) assert.ok(!output.includes(good));
  });

  test('status with no provider named lists a built-in whose key comes only from its command', async () => {
    const command = await rotatingCommand([key()]);
    const home = await homeWith({ keyCommand: command.argv });
    const json = await runLoginkit(['status', '--json'], { home });
    assert.equal(json.code, 0, json.stderr);
    const listed = (JSON.parse(json.stdout) as { providers: Array<{ id: string; source: string }> }).providers;
    assert.deepEqual(
      listed.map(({ id, source }) => ({ id, source })),
      [{ id: 'openai', source: 'command' }],
    );
    const text = await runLoginkit(['status'], { home });
    assert.match(text.stdout, /^openai: API key from the command `/m);
    assert.equal(await command.runs(), 0, 'status never runs the command');
  });

  test('timeout, non-zero exit, garbage and a missing program: one clear error, no output repeated', { timeout: 60_000 }, async () => {
    const secret = key();
    const cases: Array<{ source: string; expect: RegExp; timeout?: number }> = [
      {
        // Never finishes: a time-out that does not fire fails this test in seconds instead of hanging it.
        source: `process.stdout.write(${JSON.stringify(secret)}); setInterval(() => {}, 1_000);`,
        expect: /did not finish within 1 s/,
        timeout: 1,
      },
      {
        source: `process.stdout.write(${JSON.stringify(secret)}); process.stderr.write(${JSON.stringify(secret)}); process.exit(3);`,
        expect: /exited with status 3/,
      },
      {
        source: `process.stdout.write('Enter your password: ' + ${JSON.stringify(secret)});`,
        expect: /printed something that is not a key/,
      },
      { source: `process.stdout.write(${JSON.stringify(`sk-ant-api03-${secret}`)});`, expect: /not a key \(expected/ },
      { source: 'process.stdout.write("x".repeat(100_000));', expect: /more than 64 KiB/ },
      { source: '', expect: /printed no key/ },
    ];
    for (const { source, expect, timeout } of cases) {
      const script = await writeScript('helper.mjs', source);
      const home = await homeWith({ keyCommand: [process.execPath, script], ...(timeout ? { keyCommandTimeout: timeout } : {}) });
      const started = Date.now();
      const result = await runLoginkit(['token', 'openai'], { home, timeoutMs: 10_000 });
      assert.ok(Date.now() - started < 8_000, `ended within seconds: ${source}`);
      assert.equal(result.code, 1, source);
      assert.match(result.stderr, expect);
      assert.match(result.stderr, /helper\.mjs/);
      assert.equal(result.stdout, '');
      assert.ok(!result.stderr.includes(secret), 'the output is never repeated');
      assert.ok(result.stderr.trim().split('\n').length <= 2);
    }
    const missing = await runLoginkit(['token', 'openai'], { home: await homeWith({ keyCommand: ['/nonexistent/op', 'read'] }) });
    assert.match(missing.stderr, /`\/nonexistent\/op read` could not be started/);
  });

  test(
    'commands that fork end within seconds, their children killed with them: sleep, yes, a background child holding the pipe',
    { timeout: 30_000 },
    async () => {
      const good = key();
      const dir = await mkdtemp(join(tmpdir(), 'loginkit-keycmd-fork-'));
      const cases: Array<{ argv: string[]; expect: RegExp | string; pidFile?: string }> = [
        { argv: ['sh', '-c', 'sleep 30'], expect: /did not finish within 1 s/ },
        { argv: ['sh', '-c', `sleep 30 & echo $! > ${dir}/sleep.pid; wait`], expect: /did not finish within 1 s/, pidFile: 'sleep.pid' },
        { argv: ['sh', '-c', `yes ${good}`], expect: /printed more than 64 KiB/ },
        { argv: ['sh', '-c', `yes ${good} & echo $! > ${dir}/yes.pid; wait`], expect: /printed more than 64 KiB/, pidFile: 'yes.pid' },
        { argv: ['sh', '-c', `echo ${good}; sleep 30 & echo $! > ${dir}/held.pid`], expect: good, pidFile: 'held.pid' },
      ];
      for (const { argv, expect, pidFile } of cases) {
        const kit = createLoginkit({
          home: await homeWith({ keyCommand: argv, keyCommandTimeout: 1 }),
          env: { PATH: process.env.PATH ?? '' },
          store: 'memory',
        });
        const started = Date.now();
        const outcome = await kit.getToken('openai').catch((error: Error) => error.message);
        assert.ok(Date.now() - started < 6_000, `${argv.join(' ')} ended within seconds`);
        if (typeof expect === 'string') assert.equal(outcome, expect);
        else assert.match(outcome, expect);
        if (pidFile) assert.ok(await processGone(join(dir, pidFile)), `the child of ${argv.join(' ')} was killed with its group`);
      }
    },
  );

  test('Ctrl-C on loginkit ends the key command it is waiting for, with its children', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loginkit-keycmd-int-'));
    const home = await homeWith({ keyCommand: ['sh', '-c', `sleep 30 & echo $! > ${dir}/sleep.pid; wait`] });
    const run = spawnCli(['token', 'openai'], { home, env: { LOGINKIT_STORE: 'file' }, timeoutMs: 20_000 });
    for (let i = 0; i < 200 && !(await readFile(join(dir, 'sleep.pid'), 'utf8').catch(() => '')).trim(); i++) await sleep(25);
    run.child.kill('SIGINT');
    const result = await run.exited;
    assert.notEqual(result.code, 0);
    assert.ok(await processGone(join(dir, 'sleep.pid')), "the key command's child outlived loginkit");
  });

  test('keyCommandTtl out of range (1e13) is a config error naming the setting, not a crash', async () => {
    const home = await homeWith({ keyCommand: ['/bin/echo', key()], keyCommandTtl: 1e13 });
    const result = await runLoginkit(['token', 'openai', '--json'], { home });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /provider "openai": field keyCommandTtl must be at most 31536000/);
    assert.doesNotMatch(result.stderr, /Invalid time value|bug/);
    const year = await runLoginkit(['token', 'openai', '--json'], {
      home: await homeWith({ keyCommand: ['/bin/echo', key()], keyCommandTtl: 31_536_000 }),
    });
    assert.equal(year.code, 0, year.stderr);
  });

  test("a relative program path with a slash is taken from config.json's folder, never the working directory", async () => {
    const [mine, planted] = [key(), key()];
    const home = await homeWith({ keyCommand: ['./bin/print-key'] });
    await mkdir(join(home, 'bin'));
    await writeScript('print-key', `process.stdout.write(${JSON.stringify(mine)});`, join(home, 'bin'));
    const checkout = await mkdtemp(join(tmpdir(), 'loginkit-hostile-checkout-'));
    await mkdir(join(checkout, 'bin'));
    await writeScript('print-key', `process.stdout.write(${JSON.stringify(planted)});`, join(checkout, 'bin'));
    const cwd = process.cwd();
    process.chdir(checkout);
    try {
      assert.equal(await createLoginkit({ home, env: {}, store: 'memory', cwd: checkout }).getToken('openai'), mine);
    } finally {
      process.chdir(cwd);
    }
  });

  test('a 401 runs the command once more and retries with the new key; a key refused twice stands', async () => {
    const [stale, fresh] = [key(), key()];
    const command = await rotatingCommand([stale, fresh]);
    const home = await homeWith({ keyCommand: command.argv, baseUrl: `${stand.url}/openai/v1` });
    stand.accepted.add(fresh);
    const kit = createLoginkit({ home, env: {}, store: 'memory' });
    const openai = new OpenAI(await kit.openaiOptions());
    stand.requests.length = 0;
    assert.equal((await openai.models.list()).data[0]?.id, 'gpt-test');
    assert.equal(await command.runs(), 2);
    assert.deepEqual(
      stand.requests.map((r) => r.headers.authorization),
      [`Bearer ${stale}`, `Bearer ${fresh}`],
    );

    // The application's own 401 handling: renewRejectedToken runs the command once more.
    stand.accepted.clear();
    await assert.rejects(openai.models.list(), OpenAI.AuthenticationError);
    assert.equal(await command.runs(), 3, 'one re-run, which printed the same key: no second retry');
    await assert.rejects(kit.renewRejectedToken('openai', fresh), { code: 'login_required' });
  });

  test("the README's example: 1Password's `op read` through PATH, no shell", async () => {
    const good = key();
    const bin = await mkdtemp(join(tmpdir(), 'loginkit-op-'));
    await writeScript(
      'op',
      `if (process.argv.slice(2).join(' ') !== 'read op://vault/openai/key') process.exit(1);
process.stdout.write(${JSON.stringify(`${good}\n`)});`,
      bin,
    );
    const home = await makeHome();
    await writeFile(join(home, 'config.json'), KEY_COMMAND_CONFIG);
    const kit = createLoginkit({ home, env: { PATH: `${bin}:${process.env.PATH ?? ''}` }, store: 'memory' });
    const info = await kit.getTokenInfo('openai');
    assert.deepEqual([info.token, info.type], [good, 'api_key']);
    const [status] = await kit.status('openai');
    assert.equal(status?.command, 'op read op://vault/openai/key');
  });
});
