// `loginkit login <id>` in injected environments: CI, SSH (with a fixed callback port), WSL, no display, and a
// machine where xdg-open cannot run. Each picks its method and prints what to do first.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { signInOverHttp } from '../helpers/person.js';
import { makeHome, runCli, spawnCli, startCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';

const PROVIDER = 'demo';
const ENV = { LOGINKIT_STORE: 'file' };
/**
 * No xdg-open, no text browser, no shell tools: whatever the opener tries fails. The system opener (the `open`
 * package) spawns with process.env, not the CLI's environment, so the tests that need this run the CLI as a process.
 */
const NO_TOOLS = { PATH: '/nonexistent' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe('choosing how to sign in from where the CLI runs', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });

  async function homeWith(entry: Record<string, unknown> = {}): Promise<string> {
    const { server } = fixture;
    const home = await makeHome();
    const providers = { [PROVIDER]: { type: 'oauth', issuer: server.issuer, clientId: server.clientId, ...entry } };
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers }), { mode: 0o600 });
    return home;
  }

  test('CI: fails at once, exit 2, naming the commands that work there; nothing listens, nothing is asked', async () => {
    const home = await homeWith();
    const result = await runCli(['login', PROVIDER], { home, env: { ...ENV, CI: 'true', DISPLAY: ':0' } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: CI is set, so nobody is here to finish a sign-in in a browser; loginkit will not wait\./);
    assert.match(result.stderr, /loginkit login demo --device/);
    assert.equal(fixture.server.stats.tokenRequests, 0);
  });

  test('SSH with a fixed callback port and no device endpoint: paste, with the ssh -L line that makes the browser work', async () => {
    const { server } = fixture;
    const port = await freePort();
    const home = await homeWith({
      authorizationEndpoint: `${server.issuer}/auth`,
      tokenEndpoint: `${server.issuer}/token`,
      redirectUri: `http://127.0.0.1:${port}/callback`,
    });
    const env = { ...ENV, SSH_CONNECTION: '203.0.113.9 50312 198.51.100.7 2222', SSH_TTY: '/dev/pts/4', USER: 'alice' };
    const cli = startCli(['login', PROVIDER, '--timeout', '60'], { home, env });
    const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    await cli.waitFor(new RegExp(`^  ssh -L ${port}:127\\.0\\.0\\.1:${port} -p 2222 alice@198\\.51\\.100\\.7$`, 'm'), 'stderr');
    const lines = cli.stderr().split('\n');
    assert.match(
      lines[0] ?? '',
      /^Signing in to demo through a browser on any device \(this is an SSH session, so a browser opened here would not reach you\): open the URL below there and sign in\.$/,
    );
    assert.match(cli.stderr(), new RegExp(`forwards port ${port}`));
    // The person's browser comes through the tunnel: the callback reaches the listener on the fixed port.
    const page = await signInOverHttp(urlLine);
    assert.equal(new URL(page.finalUrl).port, String(port));
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });

  test('WSL: the Windows browser is tried; when it cannot be opened, that is said and the login keeps waiting', async () => {
    const home = await homeWith();
    const cli = spawnCli(['login', PROVIDER, '--timeout', '60'], { home, env: { ...ENV, ...NO_TOOLS, WSL_DISTRO_NAME: 'Ubuntu' } });
    const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    assert.match(cli.stderr().split('\n')[0] ?? '', /^Signing in to demo through a browser \(WSL: in the Windows browser\)\.$/);
    await cli.waitFor(/Could not open a browser \(.+\)\. Open the URL above yourself\./, 'stderr');
    await signInOverHttp(urlLine);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
  });

  test('a missing xdg-open never crashes anything: the failure is reported and the sign-in still completes', async () => {
    const home = await homeWith();
    const cli = spawnCli(['login', PROVIDER, '--method', 'browser', '--timeout', '60'], {
      home,
      env: { ...ENV, ...NO_TOOLS, DISPLAY: ':99' },
    });
    const [urlLine = ''] = await cli.waitFor(/^http\S+redirect_uri\S+$/m, 'stderr');
    await cli.waitFor(/Could not open a browser/, 'stderr');
    assert.equal(cli.child.exitCode, null, 'still running');
    await signInOverHttp(urlLine);
    const result = await cli.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Signed in to demo/);
  });

  test('no display (and no SSH, no $BROWSER): the device code, said first; Ctrl-C exits 130', async () => {
    const home = await homeWith();
    // A real process: Ctrl-C is a signal.
    const cli = spawnCli(['login', PROVIDER], { home, env: ENV });
    await cli.waitFor(/enter the code/, 'stderr');
    assert.match(
      cli.stderr().split('\n')[0] ?? '',
      /^Signing in to demo with a one-time code you enter on any device with a browser \(this is (a container|a machine) without a display, so a browser opened here would not reach you\)\.$/,
    );
    cli.child.kill('SIGINT');
    assert.equal((await cli.exited).code, 130);
  });
});
