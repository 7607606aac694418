// The Ink component <SignIn> rendered by ink-testing-library against the real oidc-provider and the API-key
// stand-ins: frames asserted, keys sent as the person would press them.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { cleanup, render } from 'ink-testing-library';
import React from 'react';

import { type LoginResult, createLoginkit } from '../../src/index.js';
import { SignIn } from '../../src/ink/index.js';
import { makeHome } from '../helpers/cli.js';
import { completeDeviceSignInOverHttp, signInOverHttp } from '../helpers/person.js';
import { type ProviderStandIns, startProviderStandIns } from '../helpers/provider-stand-ins.js';
import { useSignInServer } from '../helpers/sign-in.js';

const ENV = { LOGINKIT_STORE: 'file' };
const KEYS = { enter: '\r', down: '\u001B[B', escape: '\u001B' };

/** Resolves with the last frame once it matches `pattern`; fails with the frame after 15 s. */
async function frame(app: { lastFrame(): string | undefined }, pattern: RegExp): Promise<string> {
  for (const started = Date.now(); ; await new Promise((resolve) => setTimeout(resolve, 10))) {
    const shown = app.lastFrame() ?? '';
    if (pattern.test(shown)) return shown;
    if (Date.now() - started > 15_000) assert.fail(`no frame matching ${pattern}; the last one:\n${shown}`);
  }
}

/** Sends keys one write at a time, letting Ink handle each (as keys pressed one after the other arrive). */
async function press(app: { stdin: { write(data: string): void } }, ...keys: string[]): Promise<void> {
  for (const key of keys) {
    app.stdin.write(key);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterEach(() => cleanup());

describe('<SignIn> against oidc-provider', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });

  test('browser: the method list, Enter, the URL to copy, then signed in; onDone gets the result', async () => {
    const home = await fixture.home();
    const urls: string[] = [];
    const kit = createLoginkit({ home, env: ENV, openBrowser: async (url) => void urls.push(url) });
    const done: LoginResult[] = [];
    const app = render(React.createElement(SignIn, { kit, provider: 'demo', onDone: (result) => done.push(result) }));
    const menu = await frame(app, /Sign in to demo:/);
    assert.match(menu, /❯ In the browser\n\s+With a code entered on another device/);
    await press(app, KEYS.enter);
    const waiting = await frame(app, /in your browser/);
    assert.match(waiting, /http:\/\/127\.0\.0\.1:\d+\//, 'the URL is shown to copy');
    assert.equal(urls.length, 1);
    await signInOverHttp(urls[0] as string);
    assert.match(await frame(app, /Signed in/), /✓ Signed in to demo as alice@example\.test\./);
    assert.equal(done.length, 1);
    assert.equal(done[0]?.provider, 'demo');
  });

  test('device: ↓ Enter shows the code, its address and a QR code; entering it elsewhere signs in', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const app = render(React.createElement(SignIn, { kit, provider: 'demo' }));
    await frame(app, /Sign in to demo:/);
    await press(app, KEYS.down);
    await frame(app, /❯ With a code/);
    await press(app, KEYS.enter);
    const shown = await frame(app, /enter the code/);
    const [, uri = '', code = ''] = /open\n(\S+)\nand enter the code (\S+)/.exec(shown) ?? [];
    assert.match(shown, /[▀▄█]{10}/, 'a QR code is drawn');
    assert.match(shown, /Enter it only if you started this sign-in/);
    await completeDeviceSignInOverHttp(uri, code);
    await frame(app, /✓ Signed in to demo/);
  });

  test('paste: the address is typed in the field; a wrong one is turned away, the right one signs in', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const app = render(React.createElement(SignIn, { kit, provider: 'demo', method: 'paste' }));
    const shown = await frame(app, /Paste the address/);
    const url = /any browser and sign in to demo:\n([\s\S]+?)\nPaste/.exec(shown)?.[1]?.replace(/\s+/g, '') ?? '';
    const ended = await signInOverHttp(url, { stopAtCallbackPrefix: new URL(url).searchParams.get('redirect_uri') ?? '' });
    await press(app, 'http://127.0.0.1:9/elsewhere?code=x&state=y', KEYS.enter);
    await frame(app, /Not accepted: that address is not this sign-in’s callback/);
    await press(app, `${ended.finalUrl}\r`);
    await frame(app, /✓ Signed in to demo/);
  });

  test('Esc cancels while waiting for the browser; onCancel is called', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV, openBrowser: async () => undefined });
    let cancelled = 0;
    const app = render(React.createElement(SignIn, { kit, provider: 'demo', method: 'browser', onCancel: () => cancelled++ }));
    await frame(app, /in your browser/);
    await press(app, KEYS.escape);
    await frame(app, /Sign-in cancelled\./);
    assert.equal(cancelled, 1);
    await assert.rejects(kit.getToken('demo'), { code: 'login_required' });
  });

  test('the provider picker: ↓ Enter picks the second provider', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const app = render(React.createElement(SignIn, { kit, providers: ['anthropic', 'demo'] }));
    const picker = await frame(app, /Sign in to:/);
    const order = [...picker.matchAll(/\((anthropic|demo)\)/g)].map((m) => m[1]);
    assert.deepEqual([...order].sort(), ['anthropic', 'demo']);
    await press(app, KEYS.down, KEYS.enter);
    await frame(app, order[1] === 'demo' ? /Sign in to demo:/ : /Enter your Anthropic API key/);
  });
});

describe('<SignIn> with an API key', () => {
  let standIns: ProviderStandIns;
  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('the key is masked as typed; a refused key shows the reason, r asks again, a good key signs in', async () => {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { anthropic: { baseUrl: standIns.baseUrlFor('anthropic') } } }),
      {
        mode: 0o600,
      },
    );
    const kit = createLoginkit({ home, env: ENV });
    const app = render(React.createElement(SignIn, { kit, provider: 'anthropic' }));
    await frame(app, /Enter your Anthropic API key:/);
    const bad = standIns.badKeyFor('anthropic');
    await press(app, bad);
    const masked = await frame(app, /> •+/);
    assert.equal(masked.match(/•/g)?.length, bad.length, 'one bullet per character typed');
    await press(app, KEYS.enter);
    await frame(app, /✗ .*\n(.*\n)*r to try again/);
    await press(app, 'r');
    await frame(app, /Enter your Anthropic API key:\n/);
    const good = standIns.goodKeyFor('anthropic');
    await press(app, good, KEYS.enter);
    await frame(app, /✓ Signed in to Anthropic as /);
    assert.ok(!app.frames.some((shown) => shown.includes(good) || shown.includes(bad)), 'no frame shows the key');
    assert.equal(await kit.getToken('anthropic'), good);
  });
});
