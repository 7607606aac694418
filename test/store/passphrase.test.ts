// The passphrase backend: scrypt-derived key, right / wrong / missing passphrase through the CLI (prompts in a
// pseudo-terminal, as a process).
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { passphraseFor } from '../../src/cli/passphrase-prompt.js';
import type { Io } from '../../src/cli/output.js';
import { SCRYPT_COST } from '../../src/store/limits.js';
import { deriveKey } from '../../src/store/passphrase-key.js';
import { makeHome, runCli } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { inTerminal } from '../helpers/terminal.js';
import { credentialEntry, seedStore, storeText } from './support.js';

const PASSPHRASE = 'correct horse battery staple';

const TOKEN = 'passphrase-test-access-token-4242424242';

describe('passphrase backend', () => {
  let dir: string;
  before(async () => {
    dir = await makeHome();
    await seedStore(dir, 'passphrase', credentialEntry('acme', TOKEN), { LOGINKIT_PASSPHRASE: PASSPHRASE });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the file is encrypted under scrypt N=2^15, r=8, p=1, with no token in it', async () => {
    const text = await storeText(dir);
    assert.ok(!text.includes(TOKEN) && !text.includes('acme'));
    const envelope = JSON.parse(text) as { protection: string; kdf: Record<string, unknown> };
    assert.equal(envelope.protection, 'passphrase');
    assert.deepEqual({ ...envelope.kdf, salt: typeof envelope.kdf.salt }, { name: 'scrypt', N: 32768, r: 8, p: 1, salt: 'string' });
  });

  test('right passphrase: token and status work, status shows the protection', async () => {
    const token = await runCli(['token', 'acme'], { home: dir, env: { LOGINKIT_PASSPHRASE: PASSPHRASE } });
    assert.equal(token.code, 0, token.stderr);
    assert.equal(token.stdout, `${TOKEN}\n`);
    const status = await runCli(['status', '--json'], { home: dir, env: { LOGINKIT_PASSPHRASE: PASSPHRASE } });
    const [entry] = (JSON.parse(status.stdout) as { providers: Array<{ protection: string }> }).providers;
    assert.equal(entry?.protection, 'encrypted (passphrase)');
  });

  test('wrong passphrase: exit 1, a clear message, nothing changed', async () => {
    const before = await storeText(dir);
    const token = await runCli(['token', 'acme'], { home: dir, env: { LOGINKIT_PASSPHRASE: 'wrong horse' } });
    assert.equal(token.code, 1);
    assert.equal(token.stdout, '');
    assert.match(
      token.stderr,
      /^error: Wrong passphrase for the credential store .*credentials\.json; nothing was changed\.\nTry again with the passphrase the store was created with/,
    );
    const reset = await runCli(['store', 'reset'], { home: dir, env: { LOGINKIT_PASSPHRASE: 'wrong horse' } });
    assert.equal(reset.code, 1, 'a mistyped passphrase is no reason to move the store aside');
    assert.match(reset.stderr, /does not look damaged: Wrong passphrase/);
    assert.equal(await storeText(dir), before);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('credentials')),
      ['credentials.json'],
    );
  });

  test('missing passphrase, non-interactive: exit 1 and how to give one', async () => {
    for (const args of [['token', 'acme'], ['status']]) {
      const result = await runCli(args, { home: dir });
      assert.equal(result.code, 1, args.join(' '));
      assert.match(
        result.stderr,
        /^error: The credential store .*credentials\.json is encrypted with a passphrase, and none was given\.\nSet LOGINKIT_PASSPHRASE, or run in a terminal to be asked for it\.\n$/,
      );
    }
  });

  test('a new passphrase store without a passphrase: exit 1, nothing written', async () => {
    const empty = await makeHome();
    try {
      const result = await runCli(['store', 'migrate', '--to', 'passphrase'], { home: empty });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /A passphrase is needed to encrypt the credential store .*\nSet LOGINKIT_PASSPHRASE/);
      assert.deepEqual(
        (await readdir(empty)).filter((name) => name.startsWith('credentials')),
        [],
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test('on a terminal: a hidden prompt, twice for a new passphrase, once to open the store', async () => {
    const tty = await makeHome();
    try {
      await seedStore(tty, 'file', credentialEntry('acme', TOKEN));
      const secret = 'typed-at-the-prompt-7781';
      const migrate = await inTerminal(
        tty,
        ['store', 'migrate', '--to', 'passphrase'],
        [
          [/New passphrase to encrypt .*credentials\.json/, `${secret}\r`],
          [/The same passphrase again/, `${secret}\r`],
        ],
      );
      assert.equal(migrate.code, 0, migrate.output);
      assert.ok(!migrate.output.includes(secret), 'not echoed');
      assert.match(migrate.output, /Moved 1 credential from file to passphrase/);

      const token = await inTerminal(tty, ['token', 'acme'], [[/Passphrase for .*credentials\.json/, `${secret}\r`]]);
      assert.equal(token.code, 0, token.output);
      assert.ok(token.output.includes(TOKEN));
      assert.ok(!token.output.includes(secret));

      const wrong = await inTerminal(tty, ['token', 'acme'], [[/Passphrase for/, 'not-it\r']]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.output, /Wrong passphrase/);
    } finally {
      await rm(tty, { recursive: true, force: true });
    }
  });

  test('the CLI takes LOGINKIT_PASSPHRASE out of its environment on first use', async () => {
    const env: NodeJS.ProcessEnv = { LOGINKIT_PASSPHRASE: 'from the environment', PATH: '/bin' };
    const io: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env };
    const provider = passphraseFor(io);
    assert.equal(env.LOGINKIT_PASSPHRASE, undefined);
    assert.equal(await provider({ path: '/x', purpose: 'unlock' }), 'from the environment');
    assert.equal(passphraseFor(io), provider, 'one per process, so a second client still has it');
  });

  // Its speed is measured by `npm run bench`; here, that the stated cost is the one used.
  test('scrypt cost (N=2^15, r=8, p=1)', async (t) => {
    assert.deepEqual({ ...SCRYPT_COST }, { N: 2 ** 15, r: 8, p: 1 });
    const salt = Buffer.alloc(16, 1);
    const started = performance.now();
    const key = await deriveKey(PASSPHRASE, salt, SCRYPT_COST);
    t.diagnostic(`scrypt N=2^15 r=8 p=1: ${(performance.now() - started).toFixed(1)} ms`);
    const expected = scryptSync(Buffer.from(PASSPHRASE, 'utf8'), salt, key.length, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    assert.equal(key.length, 32, 'a 256-bit key');
    assert.ok(key.equals(expected), 'the key is scrypt(passphrase, salt) with N=2^15, r=8, p=1');
    key.fill(0);
  });
});

describe('login into a passphrase store (real sign-in)', () => {
  const fixture = useSignInServer();
  let dir: string;
  before(async () => {
    dir = await makeHome();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--store passphrase encrypts the new store, and the browser never sees LOGINKIT_PASSPHRASE', async () => {
    const { server } = fixture;
    const added = await runCli(['providers', 'add', 'demo', '--issuer', server.issuer, '--client-id', server.clientId], { home: dir });
    assert.equal(added.code, 0, added.stderr);
    const browser = fixture.browser().command;
    const envFile = join(dir, 'browser-env.txt');
    const spy = join(dir, 'browser-spy.sh');
    writeFileSync(spy, `#!/bin/sh\nenv > '${envFile}'\nexec '${browser}' "$@"\n`);
    chmodSync(spy, 0o755);

    const login = await runCli(['login', 'demo', '--store', 'passphrase'], {
      home: dir,
      env: { BROWSER: spy, LOGINKIT_PASSPHRASE: PASSPHRASE },
    });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /Stored in .*credentials\.json \(encrypted \(passphrase\)\)\./);
    assert.doesNotMatch(login.stderr, /warning:/);
    const browserEnv = await readFile(envFile, 'utf8');
    assert.match(browserEnv, /^LOGINKIT_HOME=/m, 'the spy saw the environment');
    assert.doesNotMatch(browserEnv, /LOGINKIT_PASSPHRASE|correct horse/);
    assert.equal((JSON.parse(await storeText(dir)) as { protection: string }).protection, 'passphrase');

    const token = await runCli(['token', 'demo'], { home: dir, env: { LOGINKIT_PASSPHRASE: PASSPHRASE } });
    assert.equal(token.code, 0, token.stderr);
  });
});
