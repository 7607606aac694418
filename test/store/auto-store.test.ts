// `auto` where there is no usable keychain (the default CI machine): a plaintext store, announced first,
// within the probe's time bound; and an explicit keychain that fails closed. The keychain reads process.env:
// a CLI run with another D-Bus setting than this process's runs as a process.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KEYCHAIN_TIMEOUT_MS } from '../../src/store/limits.js';
import { createCredentialStore } from '../../src/store/select-store.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { useSignInServer } from '../helpers/sign-in.js';
import { credentialEntry } from './support.js';

const NO_DBUS = { DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: undefined };

describe('auto without a keychain', () => {
  const homes: string[] = [];
  const saved = { bus: process.env.DBUS_SESSION_BUS_ADDRESS, runtime: process.env.XDG_RUNTIME_DIR };
  let silent: Server;
  let silentPath: string;
  const home = async (): Promise<string> => {
    const dir = await makeHome();
    homes.push(dir);
    return dir;
  };

  before(async () => {
    // A bus socket that accepts connections and never says a word: the worst case for a D-Bus client.
    const dir = await home();
    silentPath = join(dir, 'silent-bus');
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(silentPath, resolve));
  });
  after(async () => {
    process.env.DBUS_SESSION_BUS_ADDRESS = saved.bus;
    process.env.XDG_RUNTIME_DIR = saved.runtime;
    if (saved.bus === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
    if (saved.runtime === undefined) delete process.env.XDG_RUNTIME_DIR;
    silent.close();
    for (const dir of homes) await rm(dir, { recursive: true, force: true });
  });

  test('no D-Bus session: a plaintext store, with a warning naming why and how to choose passphrase, before the file exists', async () => {
    delete process.env.DBUS_SESSION_BUS_ADDRESS;
    delete process.env.XDG_RUNTIME_DIR;
    const dir = await home();
    const path = join(dir, 'credentials.json');
    const warnings: Array<{ message: string; fileExisted: boolean }> = [];
    const store = createCredentialStore({
      path,
      env: {},
      onWarning: (message) => warnings.push({ message, fileExisted: existsSync(path) }),
    });
    await store.update(() => credentialEntry('acme', 'auto-token'));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.fileExisted, false, 'warned before anything was written');
    // The reason is the missing session, found at once, not the probe's time limit running out.
    assert.doesNotMatch(warnings[0]?.message ?? '', /did not answer within/);
    assert.match(
      warnings[0]?.message ?? '',
      /^The OS keychain cannot be used \(there is no D-Bus session \(DBUS_SESSION_BUS_ADDRESS is not set\), so no Secret Service\), so credentials will be kept in a plaintext file readable only by you: .*credentials\.json\n/,
    );
    assert.match(warnings[0]?.message ?? '', /LOGINKIT_STORE=passphrase/);
    assert.equal(store.info.protection, 'plaintext file');
    assert.ok((await readFile(path, 'utf8')).includes('auto-token'));

    // Once: the store exists now, and says what it is.
    await store.update((entries) => ({ ...entries, ...credentialEntry('zeta', 'second') }));
    const again = createCredentialStore({ path, env: {}, onWarning: (message) => warnings.push({ message, fileExisted: true }) });
    await again.update((entries) => ({ ...entries, ...credentialEntry('beta', 'third') }));
    assert.equal(warnings.length, 1);
  });

  test('a bus that never answers: the probe gives up within its bound and says so', async () => {
    process.env.DBUS_SESSION_BUS_ADDRESS = `unix:path=${silentPath}`;
    const dir = await home();
    const warnings: string[] = [];
    const store = createCredentialStore({ path: join(dir, 'credentials.json'), env: {}, onWarning: (message) => warnings.push(message) });
    const started = Date.now();
    await store.update(() => credentialEntry('acme', 'auto-token'));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= KEYCHAIN_TIMEOUT_MS - 50, `waited for the probe's time limit (${elapsed} ms)`);
    assert.match(warnings[0] ?? '', /the D-Bus session bus at .*silent-bus did not answer within 2 s/);
    assert.equal(store.info.protection, 'plaintext file');
  });

  test('explicit keychain on a bus that never answers fails closed within the bound: exit 1, nothing written', async () => {
    const dir = await home();
    const result = await runCliProcess(['store', 'migrate', '--to', 'keychain'], {
      home: dir,
      env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${silentPath}` },
    });
    assert.equal(result.code, 1);
    // Ended by the keychain's own time limit, which the message names.
    assert.match(
      result.stderr,
      /^error: Cannot save a new key for the credential store .* in the OS keychain: the D-Bus session bus at .* did not answer within 2 s; nothing was changed\.\nFix that and try again/,
    );
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('credentials')),
      [],
    );
  });

  test('explicit keychain without D-Bus fails closed: exit 1, nothing written, never a plaintext fallback', async () => {
    const dir = await home();
    const result = await runCliProcess(['store', 'migrate', '--to', 'keychain'], { home: dir, env: NO_DBUS });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /in the OS keychain: there is no D-Bus session/);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.startsWith('credentials')),
      [],
    );
  });

  test('LOGINKIT_STORE with a value that is not a backend is a configuration error', async () => {
    const dir = await home();
    const result = await runCli(['status', 'acme'], { home: dir, env: { LOGINKIT_STORE: 'vault' } });
    // Nothing is stored, so nothing is read: the setting is checked when a store is opened or created.
    assert.equal(result.code, 3);
    const migrate = await runCli(['store', 'status'], { home: dir, env: { LOGINKIT_STORE: 'vault' } });
    assert.equal(migrate.code, 1);
    assert.match(migrate.stderr, /LOGINKIT_STORE must be one of auto, keychain, passphrase, file, not "vault"\./);
  });
});

describe('loginkit login with auto and no D-Bus session (real sign-in)', () => {
  const fixture = useSignInServer();
  const saved = { bus: process.env.DBUS_SESSION_BUS_ADDRESS, runtime: process.env.XDG_RUNTIME_DIR };
  let dir: string;
  before(async () => {
    dir = await makeHome();
    // The CLI runs in this process, and the keychain reads process.env: no D-Bus session here either.
    delete process.env.DBUS_SESSION_BUS_ADDRESS;
    delete process.env.XDG_RUNTIME_DIR;
  });
  after(async () => {
    if (saved.bus !== undefined) process.env.DBUS_SESSION_BUS_ADDRESS = saved.bus;
    if (saved.runtime !== undefined) process.env.XDG_RUNTIME_DIR = saved.runtime;
    await rm(dir, { recursive: true, force: true });
  });

  test('prints the warning on stderr before signing in, stores a plaintext file, and status says so', async () => {
    const { server } = fixture;
    const added = await runCli(['providers', 'add', 'demo', '--issuer', server.issuer, '--client-id', server.clientId], { home: dir });
    assert.equal(added.code, 0, added.stderr);
    const browser = fixture.browser().command;
    const login = await runCli(['login', 'demo'], { home: dir, env: { ...NO_DBUS, BROWSER: browser } });
    assert.equal(login.code, 0, login.stderr);
    const warning = login.stderr.indexOf('warning: The OS keychain cannot be used (there is no D-Bus session');
    assert.ok(warning >= 0, login.stderr);
    assert.match(login.stderr, /To encrypt them with a passphrase instead, set LOGINKIT_STORE=passphrase/);
    assert.ok(warning < login.stderr.indexOf('Stored in'), 'the warning comes before the result');
    assert.match(login.stderr, /Stored in .*credentials\.json \(plaintext file\)\./);

    const status = await runCli(['status', '--json'], { home: dir, env: NO_DBUS });
    const [entry] = (JSON.parse(status.stdout) as { providers: Array<{ protection: string }> }).providers;
    assert.equal(entry?.protection, 'plaintext file');
    const token = await runCli(['token', 'demo'], { home: dir, env: NO_DBUS });
    assert.equal(token.code, 0);
    assert.equal(token.stderr, '', 'warned once, when the store was created');
  });
});
