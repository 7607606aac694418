// The CLI's sign-in screen is a rendering of the sign-in state machine (#25): every line `loginkit login` prints
// while signing in comes from a state transition, and the states carry what the CLI shows (the route and why,
// the redirect URI, SSH port forwarding, a browser that failed, notices, the deadline), in the published schema.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

import { createLoginView } from '../../src/cli/login-view.js';
import type { Io } from '../../src/cli/output.js';
import { type LoginEvent, type SignInProvider, type SignInState, createLoginkit, nextSignInState } from '../../src/index.js';
import { homeWithProvider } from '../helpers/cli.js';
import { type DeviceStandIn, startDeviceStandIn } from '../remote/support.js';

const SCHEMA = fileURLToPath(new URL('../../docs/serve-stdio.schema.json', import.meta.url));

/** An Io whose stderr is not a terminal (plain lines, as in CI or a pipe), and what was written to it. */
function plainIo(): { io: Io; stderr: () => string } {
  let text = '';
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, stderr: () => text };
}

/** The states of `$defs/state` in the serve schema that a state does not fit, with why. */
async function schemaProblems(states: readonly SignInState[]): Promise<string[]> {
  const schema = JSON.parse(await readFile(SCHEMA, 'utf8')) as object;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  ajv.addSchema(schema);
  const validate = ajv.getSchema('https://loginkit.invalid/serve-stdio.schema.json#/$defs/state');
  assert.ok(validate, 'the schema defines a state');
  return states.flatMap((state) => {
    const json = JSON.parse(JSON.stringify(state)) as unknown;
    return validate(json) ? [] : [`${state.step}: ${JSON.stringify(validate.errors)}`];
  });
}

const DEMO: SignInProvider = { id: 'demo', displayName: 'Demo', methods: ['browser', 'device', 'paste'], policyNote: null, envVars: [] };

describe('the CLI renders the sign-in machine', () => {
  test('each transition prints its line once: route, URL, SSH forwarding, browser failure, paste, notices, waiting', async () => {
    const { io, stderr } = plainIo();
    const view = await createLoginView(io, 'Demo');
    const events: LoginEvent[] = [
      { type: 'login_method', method: 'browser', reason: 'as requested' },
      { type: 'port_busy', port: 1455, holder: 'codex (pid 42)', nextPort: 1457 },
      { type: 'authorization_url', url: 'http://127.0.0.1:9/authorize?state=s', redirectUri: 'http://localhost:1457/auth/callback' },
      { type: 'port_forwarding', port: 1457, command: 'ssh -L 1457:localhost:1457 me@box' },
      { type: 'waiting', deadline: Date.now() + 90_000 },
      { type: 'browser_failed', message: 'no display' },
      { type: 'paste_requested', redirectUri: 'http://localhost:1457/auth/callback' },
      { type: 'callback_rejected', reason: 'host' },
      { type: 'callback_rejected', reason: 'host' },
      { type: 'paste_rejected', reason: 'not_a_url' },
      { type: 'browser_opened' },
      { type: 'exchanging_code' },
    ];
    let state: SignInState = { step: 'checking', provider: DEMO, activity: 'starting', route: undefined, notice: undefined };
    const states: SignInState[] = [state];
    for (const event of events) {
      state = nextSignInState(state, event, DEMO);
      states.push(state);
      view.render(state);
      view.render(state); // the same state again shows nothing new
    }
    view.stop();
    assert.deepEqual(stderr().split('\n'), [
      'Signing in to Demo through a browser (as requested).',
      'Port 1455 is in use by codex (pid 42); using 1457 instead.',
      'To sign in to Demo, open this URL in a browser:',
      'http://127.0.0.1:9/authorize?state=s',
      "Over SSH, your own computer's browser can finish the sign-in if it forwards port 1457. Run there (your usual ssh command plus -L):",
      '  ssh -L 1457:localhost:1457 me@box',
      'Waiting up to 90 s for the sign-in to finish…',
      'Could not open a browser (no display). Open the URL above yourself.',
      'When the browser ends on an address starting with http://localhost:1457/auth/callback (even a page that fails to load),',
      'paste that full address here and press Enter:',
      'Turned away a request to the sign-in listener (wrong Host header); still waiting.',
      'Turned away a request to the sign-in listener (wrong Host header); still waiting.',
      'Not accepted: that is not the address the browser ended on. Still waiting; paste the full address again:',
      '',
    ]);
    assert.deepEqual(await schemaProblems(states), [], 'every state fits the serve schema');
  });

  test('paste chosen over SSH: the URL, then the ssh -L line (the route decides the step, paste carries the forwarding)', async () => {
    const { io, stderr } = plainIo();
    const view = await createLoginView(io, 'Demo');
    let state: SignInState = { step: 'checking', provider: DEMO, activity: 'starting', route: undefined, notice: undefined };
    for (const event of [
      { type: 'login_method', method: 'paste', reason: 'this is an SSH session' },
      { type: 'authorization_url', url: 'http://127.0.0.1:9/a', redirectUri: 'http://127.0.0.1:1455/cb' },
      { type: 'port_forwarding', port: 1455, command: 'ssh -L 1455:127.0.0.1:1455 me@box' },
    ] satisfies LoginEvent[]) {
      state = nextSignInState(state, event, DEMO);
      view.render(state);
    }
    assert.equal(state.step, 'paste');
    assert.deepEqual(stderr().split('\n').slice(1, 5), [
      'To sign in to Demo, open this URL in a browser:',
      'http://127.0.0.1:9/a',
      "Over SSH, your own computer's browser can finish the sign-in if it forwards port 1455. Run there (your usual ssh command plus -L):",
      '  ssh -L 1455:127.0.0.1:1455 me@box',
    ]);
  });

  describe('a real device sign-in', () => {
    let standIn: DeviceStandIn;
    after(async () => {
      await standIn.close();
    });

    test("the machine's states, as the CLI renders them: the route, the code, the wait, a slow_down notice", async () => {
      standIn = await startDeviceStandIn({ interval: 1, answers: ['pending', { slowDown: undefined }, 'pending'] });
      const home = await homeWithProvider(standIn);
      const { io, stderr } = plainIo();
      const view = await createLoginView(io, 'demo');
      const signIn = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).startSignIn('demo', { method: 'device' });
      const states: SignInState[] = [];
      signIn.subscribe((state) => {
        states.push(state);
        view.render(state);
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no slow_down line in:\n${stderr()}`)), 20_000);
        const stop = signIn.subscribe(() => {
          if (!/polled less often/.test(stderr())) return;
          clearTimeout(timer);
          stop();
          resolve();
        });
      });
      signIn.cancel();
      view.stop();
      assert.equal((await signIn.settled()).step, 'cancelled');
      const lines = stderr().split('\n');
      assert.equal(lines[0], 'Signing in to demo with a one-time code you enter on any device with a browser (as requested).');
      assert.equal(lines[2], `  ${standIn.issuer}/device`);
      assert.equal(lines[4], '  WDJB-MJHT');
      assert.match(stderr(), /^Waiting up to \d+ s for the sign-in to finish…$/m);
      assert.match(stderr(), /^The server asked to be polled less often: every 6 s from now on\.$/m);
      const device = states.findLast((state) => state.step === 'device');
      assert.equal(device?.step === 'device' ? device.route?.reason : undefined, 'as requested');
      assert.equal(device?.step === 'device' ? device.notice?.event.type : undefined, 'device_poll');
      assert.deepEqual(await schemaProblems(states), [], 'every state fits the serve schema');
    });
  });
});
