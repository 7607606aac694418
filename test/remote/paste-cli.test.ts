// Pasting the address the browser ended on, racing the loopback callback: the CLI in a pseudo-terminal with a
// browser that cannot be opened, and with --paste on a piped stdin. The headless browser signs in and is stopped
// at the callback, so the callback never reaches the listener; the test pastes the captured URL instead.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';

import type { AuthServer } from '../helpers/auth-server.js';
import { signInOverHttp } from '../helpers/person.js';
import { makeBrowserCommand } from '../helpers/browser-command.js';
import { homeWithProvider, runCli, startCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { type DeviceStandIn, spawnCliInPty, startDeviceStandIn, stripAnsi } from './support.js';

const PROVIDER = 'demo';
const ENV = { LOGINKIT_STORE: 'file' };

function withState(url: string, state: string): string {
  const copy = new URL(url);
  copy.searchParams.set('state', state);
  return copy.href;
}

function isPortClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

async function workingToken(server: AuthServer, home: string): Promise<void> {
  const token = await runCli(['token', PROVIDER], { home, env: ENV });
  assert.equal(token.code, 0, token.stderr);
  const me = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
  assert.equal(me.status, 200);
}

describe('paste the redirect, racing the callback', () => {
  const fixture = useSignInServer();

  test('in a terminal with no browser: a wrong-state paste is refused and the login waits; the right one signs in', async () => {
    const { server } = fixture;
    const home = await fixture.home();
    const broken = makeBrowserCommand({ dir: home, mode: 'fail' });
    const cli = spawnCliInPty(['login', PROVIDER, '--timeout', '90'], { home, env: { ...ENV, BROWSER: broken } });
    try {
      const issuerPattern = server.issuer.replace(/[.:/]/g, '\\$&');
      const [authorizationUrl = ''] = await cli.waitFor(new RegExp(`^${issuerPattern}/\\S+$`, 'm'));
      await cli.waitFor(/paste that full address here and press Enter:/);
      const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri') ?? '';
      const port = Number(new URL(redirectUri).port);
      const grantsBefore = server.stats.authorizationCodeGrants;

      const page = await signInOverHttp(authorizationUrl, { stopAtCallbackPrefix: redirectUri });
      assert.equal(page.status, null, 'the callback was stopped in the browser');
      assert.ok(page.finalUrl.startsWith(`${redirectUri}?`), page.finalUrl);

      cli.type(`${withState(page.finalUrl, randomBytes(32).toString('base64url'))}\n`);
      await cli.waitFor(/Not accepted: that address belongs to another sign-in \(its state does not match this one\)\. Still waiting/);
      cli.type('https://example.com/somewhere-else?code=x&state=y\n');
      await cli.waitFor(/Not accepted: that address is not this sign-in’s callback/);
      assert.equal(server.stats.authorizationCodeGrants, grantsBefore, 'nothing was redeemed for a refused paste');
      assert.equal(await isPortClosed(port), false, 'the listener still waits');

      cli.type(`${page.finalUrl}\n`);
      await cli.waitFor(/Signed in to demo as alice@example\.test/);
      assert.equal(await cli.exited, 0, stripAnsi(cli.output()));
      assert.equal(server.stats.authorizationCodeGrants, grantsBefore + 1);
      assert.equal(await isPortClosed(port), true, 'the listener is closed: the callback lost the race cleanly');
      const output = stripAnsi(cli.output());
      assert.match(
        output.split('\n').find((line) => line.trim() !== '') ?? '',
        /^Signing in to demo through a browser/,
        'the first line says what happens',
      );
      assert.match(output, /Could not open a browser/);
      await workingToken(server, home);
    } finally {
      cli.kill();
    }
  });

  test('--paste reads a piped stdin; the loopback callback still wins when it comes first', async () => {
    const { server } = fixture;
    const home = await fixture.home();
    const cli = startCli(['login', PROVIDER, '--paste', '--timeout', '60'], { home, env: ENV });
    const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    await cli.waitFor(/paste that full address here and press Enter:/, 'stderr');
    assert.match(
      cli.stderr(),
      /^Signing in to demo through a browser on any device \(as requested\): open the URL below there and sign in\.\n/,
    );
    // No paste at all: the browser reaches the listener, which wins the race; stdin is left alone.
    const page = await signInOverHttp(urlLine);
    assert.equal(new URL(page.finalUrl).pathname, '/loginkit/done');
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    await workingToken(server, home);
  });

  test('--paste on a piped stdin: the pasted URL signs in', async () => {
    const { server } = fixture;
    const home = await fixture.home();
    const cli = startCli(['login', PROVIDER, '--paste', '--timeout', '60'], { home, env: ENV });
    const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    const redirectUri = new URL(urlLine).searchParams.get('redirect_uri') ?? '';
    const page = await signInOverHttp(urlLine, { stopAtCallbackPrefix: redirectUri });
    cli.stdin.write(`  ${page.finalUrl}  \n`);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr + result.stdout, /[?&]code=/, 'the code is never printed');
    await workingToken(server, home);
  });

  test('a pasted URL goes through the callback checks: an error response fails the login, a foreign iss too', async () => {
    const { server } = fixture;
    for (const [params, expected] of [
      [{ error: 'access_denied', error_description: 'The person said no' }, /access_denied \(The person said no\)/],
      // The same error the listener's callback gets for a foreign issuer (RFC 9207).
      [
        { code: 'abc', iss: 'https://attacker.example' },
        /error: Sign-in refused: the authorization response names issuer "https:\/\/attacker\.example"/,
      ],
    ] as const) {
      const home = await fixture.home();
      const cli = startCli(['login', PROVIDER, '--paste', '--timeout', '60'], { home, env: ENV });
      const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
      const authorization = new URL(urlLine);
      const callback = new URL(authorization.searchParams.get('redirect_uri') ?? '');
      callback.search = new URLSearchParams({
        iss: server.issuer,
        ...params,
        state: authorization.searchParams.get('state') ?? '',
      }).toString();
      const tokenRequests = server.stats.tokenRequests;
      cli.stdin.write(`${callback.href}\n`);
      const result = await cli.exited;
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, expected);
      assert.equal(server.stats.tokenRequests, tokenRequests, 'no code was redeemed');
    }
  });
});

describe('Ctrl-C in a real terminal', () => {
  let standIn: DeviceStandIn;
  before(async () => {
    standIn = await startDeviceStandIn({ interval: 1, answers: ['pending'] });
  });
  after(async () => {
    await standIn.close();
  });

  test('while the spinner shows the time left, Ctrl-C cancels the device sign-in with exit 130', async () => {
    const home = await homeWithProvider(standIn);
    const cli = spawnCliInPty(['login', PROVIDER, '--device'], { home, env: ENV });
    try {
      await cli.waitFor(/Waiting for you to enter the code \(\d+:\d\d left, Ctrl-C to cancel\)/);
      cli.type('\u0003');
      assert.equal(await cli.exited, 130, stripAnsi(cli.output()));
      assert.match(stripAnsi(cli.output()), /Sign-in cancelled/);
    } finally {
      cli.kill();
    }
  });
});
