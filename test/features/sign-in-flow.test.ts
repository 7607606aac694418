// The sign-in state machine against a real oidc-provider and the API-key stand-ins: every state a TUI renders,
// in order, and the person's inputs (choose, paste, key, cancel, retry), in this process.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { type SignIn, type SignInState, createLoginkit } from '../../src/index.js';
import { makeHome } from '../helpers/cli.js';
import { completeDeviceSignInOverHttp, signInOverHttp } from '../helpers/person.js';
import { type ProviderStandIns, startProviderStandIns } from '../helpers/provider-stand-ins.js';
import { useSignInServer } from '../helpers/sign-in.js';

const ENV = { LOGINKIT_STORE: 'file' };

/** Resolves with the first state of `step` (the current one, or a later one). */
function reach<S extends SignInState['step']>(signIn: SignIn, step: S): Promise<Extract<SignInState, { step: S }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${step}" state; now "${signIn.getState().step}"`)), 20_000);
    const check = (state: SignInState): void => {
      if (state.step !== step) return;
      clearTimeout(timer);
      stop();
      resolve(state as Extract<SignInState, { step: S }>);
    };
    const stop = signIn.subscribe(check);
    check(signIn.getState());
  });
}

/** Every step the sign-in goes through, as a list that grows. */
function steps(signIn: SignIn): string[] {
  const seen = [signIn.getState().step as string];
  signIn.subscribe((state) => {
    if (seen.at(-1) !== state.step) seen.push(state.step);
  });
  return seen;
}

describe('sign-in state machine against oidc-provider', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });

  test('browser: choosing the method, waiting with the URL, checking, done with the account; the token works', async () => {
    const home = await fixture.home();
    const opened: string[] = [];
    const kit = createLoginkit({ home, env: ENV, openBrowser: async (url) => void opened.push(url) });
    const signIn = kit.startSignIn('demo');
    const seen = steps(signIn);
    const choosing = await reach(signIn, 'choosing_method');
    assert.deepEqual(choosing.methods, ['browser', 'device', 'paste']);
    signIn.chooseMethod('browser');
    const waiting = await reach(signIn, 'browser');
    assert.equal(new URL(waiting.url).origin, fixture.server.issuer);
    await signInOverHttp(waiting.url);
    const done = await signIn.settled();
    assert.equal(done.step, 'done', JSON.stringify(done));
    assert.equal(done.step === 'done' ? done.account?.email : undefined, 'alice@example.test');
    assert.deepEqual(seen, ['checking', 'choosing_method', 'checking', 'browser', 'checking', 'done']);
    assert.deepEqual(opened, [waiting.url], 'the browser was opened with the URL shown');
    const token = await kit.getToken('demo');
    const me = await fetch(`${fixture.server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
  });

  test('device: the code and its address, then done once the person enters it elsewhere', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn('demo', { method: 'device' });
    const device = await reach(signIn, 'device');
    assert.match(device.userCode, /\S/);
    assert.ok(device.expiresAt > Date.now());
    await completeDeviceSignInOverHttp(device.verificationUri, device.userCode);
    const done = await signIn.settled();
    assert.equal(done.step, 'done', JSON.stringify(done));
    assert.equal(fixture.server.stats.deviceCodeGrants, 1);
  });

  test('paste: a wrong address is turned away and the sign-in keeps waiting; the right one finishes it', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn('demo', { method: 'paste' });
    const waiting = await reach(signIn, 'paste');
    const ended = await signInOverHttp(waiting.url, { stopAtCallbackPrefix: new URL(waiting.url).searchParams.get('redirect_uri') ?? '' });
    signIn.paste('http://127.0.0.1:9/elsewhere?code=x&state=y');
    await new Promise<void>((resolve) => {
      const stop = signIn.subscribe((state) => {
        if (state.step === 'paste' && state.pasteRejected !== undefined) {
          stop();
          resolve();
        }
      });
    });
    assert.equal(signIn.getState().step, 'paste');
    signIn.paste(ended.finalUrl);
    const done = await signIn.settled();
    assert.equal(done.step, 'done', JSON.stringify(done));
  });

  test('cancel while waiting for the browser: cancelled, nothing stored, the callback listener closed', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV, openBrowser: async () => undefined });
    const signIn = kit.startSignIn('demo', { method: 'browser' });
    const waiting = await reach(signIn, 'browser');
    signIn.cancel();
    assert.equal(signIn.getState().step, 'cancelled');
    signIn.retry();
    assert.equal(signIn.getState().step, 'cancelled', 'a cancelled sign-in stays cancelled');
    const redirect = new URL(waiting.url).searchParams.get('redirect_uri') ?? '';
    for (let tries = 0; ; tries++) {
      const refused = await fetch(redirect).then(
        () => false,
        () => true,
      );
      if (refused) break;
      assert.ok(tries < 50, 'the listener still answers after cancel');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await assert.rejects(kit.getToken('demo'), { code: 'login_required' }, 'nothing was stored');
  });

  test('a failure is one line and what to do next; retry goes back to the method choice', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV, openBrowser: async () => undefined });
    const signIn = kit.startSignIn('demo', { timeoutMs: 50 });
    await reach(signIn, 'choosing_method');
    signIn.chooseMethod('browser');
    const failed = await signIn.settled();
    assert.equal(failed.step, 'failed');
    if (failed.step !== 'failed') return;
    assert.equal(failed.code, 'timeout');
    assert.doesNotMatch(failed.reason, /\n/);
    assert.notEqual(failed.next, '');
    signIn.retry();
    assert.equal(signIn.getState().step, 'choosing_method');
  });

  test('the provider picker lists the providers asked for; an unknown one fails with its code', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn(undefined, { providers: ['demo', 'anthropic'] });
    const picker = await reach(signIn, 'choosing_provider');
    assert.deepEqual(Object.fromEntries(picker.providers.map((p) => [p.id, p.methods])), {
      anthropic: ['api_key'],
      demo: ['browser', 'device', 'paste'],
    });
    signIn.chooseProvider('demo');
    assert.equal((await reach(signIn, 'choosing_method')).provider.id, 'demo');
    const unknown = kit.startSignIn('no-such-provider');
    const failed = await unknown.settled();
    assert.equal(failed.step === 'failed' ? failed.code : failed.step, 'unknown_provider');
  });
});

describe('sign-in state machine with an API key', () => {
  let standIns: ProviderStandIns;
  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('a key-only provider goes straight to the key field; a refused key fails, retry asks again, a good key is stored', async () => {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { anthropic: { baseUrl: standIns.baseUrlFor('anthropic') } } }),
      {
        mode: 0o600,
      },
    );
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn('anthropic');
    const states: SignInState[] = [];
    signIn.subscribe((state) => states.push(state));
    const field = await reach(signIn, 'api_key');
    assert.equal(field.provider.id, 'anthropic');
    signIn.submitKey(standIns.badKeyFor('anthropic'));
    const failed = await signIn.settled();
    assert.equal(failed.step === 'failed' ? failed.code : failed.step, 'provider_error');
    signIn.retry();
    await reach(signIn, 'api_key');
    const good = standIns.goodKeyFor('anthropic');
    signIn.submitKey(good);
    await reach(signIn, 'done');
    assert.equal(await kit.getToken('anthropic'), good);
    const shown = JSON.stringify(states);
    assert.ok(!shown.includes(good) && !shown.includes(standIns.badKeyFor('anthropic')), 'no state carries the key');
  });
  test("verify: false (the CLI's --no-verify) stores the key unchecked: even one the provider would refuse", async () => {
    const home = await makeHome();
    const config = { providers: { anthropic: { baseUrl: standIns.baseUrlFor('anthropic') } } };
    await writeFile(join(home, 'config.json'), JSON.stringify(config), { mode: 0o600 });
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn('anthropic', { method: 'api_key', verify: false });
    await reach(signIn, 'api_key');
    signIn.submitKey(standIns.badKeyFor('anthropic'));
    const done = await signIn.settled();
    assert.equal(done.step === 'done' ? done.result.verified : done.step, false);
    assert.equal(await kit.getToken('anthropic'), standIns.badKeyFor('anthropic'));
  });
  test('cancel while the key is being checked is refused: the key may already be stored, so the state says what happened', async () => {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { anthropic: { baseUrl: standIns.baseUrlFor('anthropic') } } }),
      {
        mode: 0o600,
      },
    );
    const kit = createLoginkit({ home, env: ENV });
    const signIn = kit.startSignIn('anthropic');
    await reach(signIn, 'api_key');
    signIn.submitKey(standIns.goodKeyFor('anthropic'));
    signIn.cancel();
    const checking = signIn.getState();
    assert.equal(checking.step === 'checking' ? checking.activity : checking.step, 'verifying_key', 'still checking, not cancelled');
    assert.equal((await signIn.settled()).step, 'done');
    assert.equal(await kit.getToken('anthropic'), standIns.goodKeyFor('anthropic'));
  });
});
