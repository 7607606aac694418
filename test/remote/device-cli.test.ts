// `loginkit login --device` end to end: the CLI process polls a real oidc-provider while the headless browser,
// playing the person on another device, enters the code; denied and expired codes, and Ctrl-C, against a stand-in.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { completeDeviceSignInOverHttp } from '../helpers/person.js';
import { type CliOutput, homeWithProvider, makeHome, runCli, spawnCli, startCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { type DeviceStandIn, type DeviceStandInOptions, startDeviceStandIn } from './support.js';

const PROVIDER = 'demo';
const ENV = { LOGINKIT_STORE: 'file' };

/** The verification address and user code, as the CLI printed them. */
async function shownCode(cli: CliOutput): Promise<{ uri: string; code: string }> {
  const [, uri = ''] = await cli.waitFor(/open this address \(on [^)]+\):\n\s+(\S+)\n/, 'stderr');
  const [, code = ''] = await cli.waitFor(/enter the code \(valid for \d+ min\):\n\s+(\S+)\n/, 'stderr');
  await cli.waitFor(/Enter this code only if you started this sign-in yourself.*\n/, 'stderr');
  return { uri, code };
}

describe('device sign-in through the CLI against oidc-provider', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });

  test('login --device: the person enters the code on another device; the CLI then holds a working token', async () => {
    const { server } = fixture;
    const home = await fixture.home();
    const cli = startCli(['login', PROVIDER, '--device'], { home, env: ENV });
    const { uri, code } = await shownCode(cli);
    const stderrSoFar = cli.stderr();
    assert.match(stderrSoFar.split('\n')[0] ?? '', /^Signing in to demo with a one-time code/, 'the first line says what will happen');
    assert.match(stderrSoFar, new RegExp(`on ${new URL(server.issuer).host.replace(/[.]/g, '\\.')}`), 'the host is spelled out');
    assert.match(stderrSoFar, /Enter this code only if you started this sign-in yourself/);
    assert.match(stderrSoFar, /Or open this link, which carries the code:\n\s+\S+user_code=/);
    assert.equal(new URL(uri).origin, server.issuer);

    const page = await completeDeviceSignInOverHttp(uri, code);
    assert.match(page, /success/i);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Signed in to demo as alice@example\.test/);
    assert.equal(server.stats.deviceCodeGrants, 1);

    const token = await runCli(['token', PROVIDER], { home, env: ENV });
    assert.equal(token.code, 0, token.stderr);
    const me = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { email: string }).email, 'alice@example.test');
    assert.doesNotMatch(result.stderr + result.stdout, new RegExp(token.stdout.trim()), 'the token is never printed by login');
  });

  test('over SSH, plain `login` picks the device code because the server offers one', async () => {
    const home = await fixture.home();
    const cli = startCli(['login', PROVIDER], {
      home,
      env: { ...ENV, SSH_CONNECTION: '203.0.113.9 50000 198.51.100.7 22', SSH_TTY: '/dev/pts/3' },
    });
    const { uri, code } = await shownCode(cli);
    assert.match(
      cli.stderr(),
      /^Signing in to demo with a one-time code .*\(this is an SSH session, so a browser opened here would not reach you\)/,
    );
    await completeDeviceSignInOverHttp(uri, code);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });
});

/** Resolves once `condition` holds, checking every 20 ms; rejects after 30 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (const started = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() - started > 30_000) throw new Error(`gave up waiting: ${what}`);
  }
}

describe('device sign-in through the CLI: endings', () => {
  const standIns: DeviceStandIn[] = [];
  after(async () => {
    await Promise.all(standIns.map((s) => s.close()));
  });
  async function standIn(options: DeviceStandInOptions): Promise<{ server: DeviceStandIn; home: string }> {
    const server = await startDeviceStandIn(options);
    standIns.push(server);
    return { server, home: await homeWithProvider(server) };
  }

  test('a denied code ends with the reason, exit 1, and nothing stored', async () => {
    const { home } = await standIn({ interval: 1, answers: ['pending', 'denied'] });
    const result = await runCli(['login', PROVIDER, '--device'], { home, env: ENV });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error: The sign-in was declined on the verification page \(The end-user denied the request\)/);
    assert.match(result.stderr, /If you meant to sign in, run the login again/);
    assert.equal((await runCli(['token', PROVIDER], { home, env: ENV })).code, 3, 'not signed in');
  });

  test('expired_token from the server, and a code that runs out while waiting, end with exit 1 and say to start again', async () => {
    const { home } = await standIn({ interval: 1, answers: ['expired'] });
    const expired = await runCli(['login', PROVIDER, '--device'], { home, env: ENV });
    assert.equal(expired.code, 1, expired.stderr);
    assert.match(expired.stderr, /error: The code WDJB-MJHT expired before the sign-in was completed/);
    assert.match(expired.stderr, /Run the login again for a new code/);

    const short = await standIn({ interval: 1, expiresIn: 2, answers: ['pending'] });
    const ranOut = await runCli(['login', PROVIDER, '--device'], { home: short.home, env: ENV });
    assert.equal(ranOut.code, 1, ranOut.stderr);
    assert.match(ranOut.stderr, /expired before the sign-in was completed/);
    assert.equal(short.server.tokenRequests.length, 1, 'polled once within the two seconds, then stopped');
  });

  test('Ctrl-C stops polling at once and exits 130', async () => {
    const { server, home } = await standIn({ interval: 1, answers: ['pending'] });
    // A real process: Ctrl-C is a signal.
    const cli = spawnCli(['login', PROVIDER, '--device'], { home, env: ENV });
    await shownCode(cli);
    await until(() => server.tokenRequests.length >= 1, 'the CLI polls');
    const pollsBefore = server.tokenRequests.length;
    cli.child.kill('SIGINT');
    const result = await cli.exited;
    assert.equal(result.code, 130, result.stderr);
    assert.ok(server.tokenRequests.length <= pollsBefore + 1, 'stops at once: no poll after the one in flight');
  });

  test('--device for a provider whose server offers no device endpoint is a usage error naming --paste', async () => {
    const home = await makeHome();
    const added = await runCli(['providers', 'add', PROVIDER, '--issuer', 'http://127.0.0.1:9', '--client-id', 'x'], { home, env: ENV });
    assert.equal(added.code, 0, added.stderr);
    const { writeFile, readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const configPath = join(home, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { providers: Record<string, Record<string, unknown>> };
    Object.assign(config.providers[PROVIDER] ?? {}, {
      authorizationEndpoint: 'http://127.0.0.1:9/authorize',
      tokenEndpoint: 'http://127.0.0.1:9/token',
    });
    await writeFile(configPath, JSON.stringify(config), { mode: 0o600 });
    const result = await runCli(['login', PROVIDER, '--device'], { home, env: ENV });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /does not offer sign-in with a device code/);
    assert.match(result.stderr, /loginkit login demo --paste/);
  });
});
