// A library sign-in is never silent: with no `onEvent`, one that needs a person writes what to do on stderr,
// as the CLI does (unless told `quiet`), and its timeout names the library option, not the CLI's flag.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LoginEvent, type LoginEnvironment, SignInTimeoutError, createLoginkit } from '../../src/index.js';
import { useSignInServer } from '../helpers/sign-in.js';

const CONTAINER: LoginEnvironment = {
  platform: 'linux',
  ssh: undefined,
  wsl: false,
  container: true,
  ci: false,
  display: false,
  browserCommand: false,
};

/** What the code under test writes to this process's stderr while `run` runs. */
async function stderrOf(run: () => Promise<unknown>): Promise<{ text: string; error: unknown }> {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stderr.write;
  try {
    const error = await run().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    return { text: chunks.join(''), error };
  } finally {
    process.stderr.write = write;
  }
}

describe('library sign-in with nobody listening', () => {
  const fixture = useSignInServer();

  test('a device code in a container: the code and where to enter it go to stderr; the timeout names timeoutMs', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, environment: CONTAINER });
    const { text, error } = await stderrOf(() => kit.login('demo', { timeoutMs: 1_000 }));
    assert.match(text, /^Signing in to demo with a one-time code you enter on any device with a browser/m);
    assert.match(text, new RegExp(`^  ${fixture.server.issuer}/device\\S*$`, 'm'), 'the address, on a line of its own');
    assert.match(text, /^and enter the code \(valid for \d+ min\):\n {2}[A-Z]{4}-?[A-Z]{4}$/m);
    assert.match(text, /Enter this code only if you started this sign-in yourself/);
    assert.ok(error instanceof SignInTimeoutError, String(error));
    assert.equal(error.code, 'timeout');
    assert.match(
      error.message,
      /Nobody completed the sign-in within 1 s\.\nSign in again; for more time, set the sign-in's `timeoutMs` option\./,
    );
    assert.doesNotMatch(error.message, /--timeout|loginkit login/, 'no CLI flag in a library error');
  });

  test('a URL to open (no browser): the URL and the wait go to stderr', async () => {
    const home = await fixture.home();
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, environment: CONTAINER });
    const { text, error } = await stderrOf(() => kit.login('demo', { method: 'browser', noBrowser: true, timeoutMs: 1_000 }));
    assert.match(text, /^To sign in to demo, open this URL in a browser:\nhttp:\/\/127\.0\.0\.1:\d+\/auth\?\S+$/m);
    assert.match(text, /^Waiting up to 1 s for the sign-in to finish…$/m);
    assert.ok(error instanceof SignInTimeoutError, String(error));
  });

  test('quiet, or an onEvent on the client or the sign-in, keeps stderr clean', async () => {
    const home = await fixture.home();
    const seen: LoginEvent[] = [];
    const runs = [
      () =>
        createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, environment: CONTAINER }).login('demo', { quiet: true, timeoutMs: 500 }),
      () =>
        createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, environment: CONTAINER, onEvent: (event) => seen.push(event) }).login(
          'demo',
          { timeoutMs: 500 },
        ),
      () =>
        createLoginkit({ home, env: { LOGINKIT_STORE: 'file' }, environment: CONTAINER }).login('demo', {
          timeoutMs: 500,
          onEvent: (event) => seen.push(event),
        }),
    ];
    for (const run of runs) {
      const { text, error } = await stderrOf(run);
      assert.equal(text, '');
      assert.ok(error instanceof SignInTimeoutError, String(error));
    }
    assert.equal(seen.filter((event) => event.type === 'device_code').length, 2, 'the listeners got the code');
  });
});
