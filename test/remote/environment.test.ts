// Knowing where we are (SSH, WSL, containers, no display, CI) and choosing how to sign in there, with injected
// environments; and the parsing of pasted callback addresses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  type HostProbe,
  type LoginEnvironment,
  browserCanReachCallback,
  chooseLoginMethod,
  detectEnvironment,
  sshForwardingCommand,
} from '../../src/environment.js';
import { LoginkitError } from '../../src/errors.js';
import { createPasteBox } from '../../src/oauth/paste-box.js';
import { checkPastedCallback } from '../../src/oauth/paste.js';

function probe(env: Record<string, string>, platform: NodeJS.Platform = 'linux', files: Record<string, string> = {}): Partial<HostProbe> {
  return { env, platform, readTextFile: (path) => files[path], hostname: () => 'devbox' };
}

function choose(
  environment: LoginEnvironment,
  extra: {
    device?: boolean;
    apiKey?: boolean;
    requested?: 'auto' | 'browser' | 'device' | 'paste';
    noBrowser?: boolean;
    injected?: boolean;
  } = {},
) {
  return chooseLoginMethod({
    requested: extra.requested ?? 'auto',
    environment,
    providerId: 'acme',
    deviceSupported: extra.device ?? true,
    apiKeySupported: extra.apiKey ?? false,
    browserInjected: extra.injected ?? false,
    noBrowser: extra.noBrowser ?? false,
  });
}

const SSH = { SSH_CONNECTION: '203.0.113.9 50312 198.51.100.7 2222', SSH_TTY: '/dev/pts/4', USER: 'alice' };

describe('detecting where we run', () => {
  test('a local desktop (Linux with a display, macOS, Windows) opens the browser; the paste prompt waits for a failure', () => {
    for (const environment of [
      detectEnvironment(probe({ DISPLAY: ':0' })),
      detectEnvironment(probe({ WAYLAND_DISPLAY: 'wayland-0' })),
      detectEnvironment(probe({}, 'darwin')),
      detectEnvironment(probe({}, 'win32')),
    ]) {
      assert.equal(browserCanReachCallback(environment), true);
      assert.deepEqual(choose(environment), { method: 'browser', reason: '', pasteFromStart: false });
    }
  });

  test('SSH: device code when offered, else paste; the ssh -L line names the server address, port and user', () => {
    const environment = detectEnvironment(probe(SSH));
    assert.deepEqual(environment.ssh, { serverAddress: '198.51.100.7', serverPort: 2222, user: 'alice', hostname: 'devbox' });
    assert.equal(browserCanReachCallback(environment), false);
    const device = choose(environment);
    assert.equal(device.method, 'device');
    assert.equal(device.reason, 'this is an SSH session, so a browser opened here would not reach you');
    assert.deepEqual(choose(environment, { device: false }), {
      method: 'paste',
      reason: 'this is an SSH session, so a browser opened here would not reach you',
      pasteFromStart: true,
    });
    assert.equal(sshForwardingCommand(environment.ssh!, 1455), 'ssh -L 1455:127.0.0.1:1455 -p 2222 alice@198.51.100.7');
    const onlyTty = detectEnvironment(probe({ SSH_TTY: '/dev/pts/1' }));
    assert.equal(sshForwardingCommand(onlyTty.ssh!, 8085), 'ssh -L 8085:127.0.0.1:8085 devbox');
  });

  test('SSH with X forwarding on Linux can use the browser; SSH into a Mac cannot; $BROWSER (VS Code remote) is trusted', () => {
    assert.equal(choose(detectEnvironment(probe({ ...SSH, DISPLAY: 'localhost:10.0' }))).method, 'browser');
    assert.equal(choose(detectEnvironment(probe(SSH, 'darwin'))).method, 'device');
    const vscode = choose(detectEnvironment(probe({ ...SSH, BROWSER: '/home/alice/.vscode-server/bin/helpers/browser.sh' })));
    assert.equal(vscode.method, 'browser');
    assert.equal(vscode.pasteFromStart, true, 'paste stays available in case the port is not forwarded');
  });

  test('WSL (from its variables or /proc/version) opens the Windows browser, with pasting as a fallback from the start', () => {
    for (const environment of [
      detectEnvironment(probe({ WSL_DISTRO_NAME: 'Ubuntu' })),
      detectEnvironment(probe({}, 'linux', { '/proc/version': 'Linux version 5.15.167.4-microsoft-standard-WSL2 (root@…)' })),
    ]) {
      assert.equal(environment.wsl, true);
      assert.deepEqual(choose(environment), { method: 'browser', reason: 'WSL: in the Windows browser', pasteFromStart: true });
    }
    assert.equal(detectEnvironment(probe({ WSL_DISTRO_NAME: 'Ubuntu' }, 'darwin')).wsl, false, 'only on Linux');
  });

  test('containers (/.dockerenv, /run/.containerenv, cgroup, $container) without a display do not open a browser', () => {
    for (const environment of [
      detectEnvironment(probe({}, 'linux', { '/.dockerenv': '' })),
      detectEnvironment(probe({}, 'linux', { '/run/.containerenv': 'engine="podman"' })),
      detectEnvironment(probe({}, 'linux', { '/proc/1/cgroup': '0::/kubepods/burstable/pod1234/abcd' })),
      detectEnvironment(probe({ container: 'podman' })),
    ]) {
      assert.equal(environment.container, true);
      assert.equal(choose(environment).method, 'device');
      assert.match(choose(environment, { device: false }).reason, /^this is a container without a display/);
    }
    assert.equal(detectEnvironment(probe({}, 'linux', { '/proc/1/cgroup': '0::/init.scope' })).container, false);
  });

  test('Linux without a display: device code when offered, else paste', () => {
    const environment = detectEnvironment(probe({}));
    assert.equal(environment.display, false);
    assert.equal(choose(environment).method, 'device');
    assert.deepEqual(choose(environment, { device: false }), {
      method: 'paste',
      reason: 'this is a machine without a display, so a browser opened here would not reach you',
      pasteFromStart: true,
    });
  });

  test('CI never waits for a person: it fails at once with the commands that work there', () => {
    const environment = detectEnvironment(probe({ CI: 'true', DISPLAY: ':0' }));
    assert.equal(environment.ci, true);
    assert.throws(
      () => choose(environment, { apiKey: true }),
      (error: unknown) =>
        error instanceof LoginkitError &&
        error.code === 'usage' &&
        /CI is set/.test(error.message) &&
        /loginkit login acme --with-api-key < key-file/.test(error.message) &&
        /loginkit login acme --device/.test(error.message),
    );
    assert.throws(() => choose(environment, { device: false }), /loginkit login acme --paste/);
    assert.equal(choose(environment, { requested: 'device' }).method, 'device', 'an explicit choice is honoured');
    assert.equal(choose(environment, { injected: true }).method, 'browser', "the application's own opener is trusted");
    assert.equal(detectEnvironment(probe({ CI: 'false' })).ci, false);
  });

  test('explicit choices: --no-browser shows the URL and reads pastes; --device needs a provider that offers it', () => {
    const desktop = detectEnvironment(probe({ DISPLAY: ':0' }));
    assert.deepEqual(choose(desktop, { noBrowser: true }), {
      method: 'browser',
      reason: 'no browser is opened: open the URL yourself',
      pasteFromStart: true,
    });
    assert.equal(choose(desktop, { requested: 'paste' }).method, 'paste');
    assert.equal(choose(desktop, { requested: 'device' }).method, 'device');
    assert.throws(() => choose(desktop, { requested: 'device', device: false }), /does not offer sign-in with a device code[\s\S]*--paste/);
  });
});

describe('pasted callback addresses', () => {
  const redirectUri = 'http://127.0.0.1:43123/callback';
  const state = 'k2Jm0d8P1XQ_state_value_of_this_login_0123456';

  test('the full URL, its query alone, or code#state, with exactly the right state', () => {
    for (const text of [
      `${redirectUri}?code=abc&state=${state}&iss=https%3A%2F%2Fauth.example`,
      `  "${redirectUri}?code=abc&state=${state}&iss=https%3A%2F%2Fauth.example"  `,
      `?code=abc&state=${state}&iss=https%3A%2F%2Fauth.example`,
      `code=abc&state=${state}&iss=https%3A%2F%2Fauth.example`,
    ]) {
      const verdict = checkPastedCallback(text, redirectUri, state);
      assert.ok(verdict.ok, text);
      assert.equal(verdict.url.origin + verdict.url.pathname, redirectUri);
      assert.equal(verdict.url.searchParams.get('code'), 'abc');
      assert.equal(verdict.url.searchParams.get('iss'), 'https://auth.example');
    }
    const codePage = checkPastedCallback(`abc123#${state}`, redirectUri, state);
    assert.ok(codePage.ok);
    assert.equal(codePage.url.search, `?code=abc123&state=${state}`);
  });

  test('anything else is refused with a reason', () => {
    const cases: Array<[string, string]> = [
      ['', 'empty'],
      [`${redirectUri}?code=abc&state=other`, 'state_mismatch'],
      [`${redirectUri}?code=abc&state=${state.slice(0, -1)}`, 'state_mismatch'],
      [`${redirectUri}?code=abc`, 'state_missing'],
      [`${redirectUri}?code=abc&state=${state}&state=${state}`, 'state_repeated'],
      [`http://127.0.0.1:9999/callback?code=abc&state=${state}`, 'wrong_address'],
      [`https://127.0.0.1:43123/callback?code=abc&state=${state}`, 'wrong_address'],
      [`http://127.0.0.1:43123/other?code=abc&state=${state}`, 'wrong_address'],
      ['SplxlOBeZQQYbYS6WxSbIA', 'code_without_state'],
      ['hello there', 'not_a_url'],
    ];
    for (const [text, reason] of cases) {
      const verdict = checkPastedCallback(text, redirectUri, state);
      assert.deepEqual(verdict, { ok: false, reason }, text);
    }
  });

  test('a paste box hands texts to the login in order, ends, and tells the UI once the login stops reading', async () => {
    let stops = 0;
    const box = createPasteBox(() => (stops += 1));
    box.submit('first');
    const iterator = box.lines[Symbol.asyncIterator]();
    assert.deepEqual(await iterator.next(), { value: 'first', done: false });
    const pending = iterator.next();
    box.submit('second');
    assert.deepEqual(await pending, { value: 'second', done: false });
    await iterator.return?.();
    await iterator.return?.();
    assert.equal(stops, 1);
    box.submit('ignored');
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  });
});
