// Real parts for the store tests: a private D-Bus session with gnome-keyring's Secret Service, and credentials
// written through the library's own store, without a sign-in.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialKey, serializeCredential, toCredential } from '../../src/session/credential.js';
import type { MigrationStep } from '../../src/store/admin.js';
import type { Entries } from '../../src/store/entry-store.js';
import type { Bundle } from '../helpers/bundle.js';
import { cliEnvironment } from '../helpers/cli.js';
import { type StoreBackend, createCredentialStore } from '../../src/store/select-store.js';

/** A running session bus with an unlocked (or deliberately locked) gnome-keyring on it. */
export interface SecretService {
  /** DBUS_SESSION_BUS_ADDRESS of the private bus. */
  readonly address: string;
  /** The variables a process needs to reach this keychain. */
  readonly env: Record<string, string>;
  /** Restarts gnome-keyring without the password: the login keyring, with what it holds, is now locked. */
  lock(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `dbus-daemon --session` on a private socket (with no service files, so nothing is activated behind
 * the test's back) and `gnome-keyring-daemon --components=secrets` on it, in a throwaway HOME, with its
 * login keyring unlocked. With `locked: true` the login keyring exists but stays locked, and no prompt can
 * be shown: the "keychain present but locked" case.
 */
export async function startSecretService(options: { locked?: boolean } = {}): Promise<SecretService> {
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-secret-service-'));
  const runtime = join(dir, 'run');
  await mkdir(runtime, { mode: 0o700 });
  const config = join(dir, 'session.conf');
  await writeFile(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>
`,
  );
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of children.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const bus = spawn('dbus-daemon', [`--config-file=${config}`, '--print-address=1', '--nofork'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(bus);
    const address = await firstLine(bus);
    const env = { DBUS_SESSION_BUS_ADDRESS: address };
    const startKeyring = async (unlock: boolean): Promise<ChildProcess> => {
      const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--components=secrets', ...(unlock ? ['--unlock'] : [])], {
        env: { ...process.env, ...env, HOME: join(dir, 'home'), XDG_DATA_HOME: join(dir, 'data'), XDG_RUNTIME_DIR: runtime, DISPLAY: '' },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      children.push(keyring);
      keyring.stdin?.end(unlock ? 'loginkit-test-keyring-password' : '');
      await waitForName(address, 'org.freedesktop.secrets', true);
      return keyring;
    };
    let keyring = await startKeyring(true);
    const lock = async (): Promise<void> => {
      // The first daemon created the login keyring on disk; the next one finds it and has no password for it.
      const exited = new Promise((resolve) => keyring.once('exit', resolve));
      keyring.kill('SIGTERM');
      await exited;
      await waitForName(address, 'org.freedesktop.secrets', false);
      keyring = await startKeyring(false);
    };
    if (options.locked) await lock();
    return { address, env, lock, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end).trim());
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited (${code}) before printing its address`)));
  });
}

async function waitForName(address: string, name: string, present: boolean): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const owned = await new Promise<boolean>((resolve) => {
      execFile(
        'dbus-send',
        [
          '--session',
          '--print-reply',
          '--dest=org.freedesktop.DBus',
          '/org/freedesktop/DBus',
          'org.freedesktop.DBus.NameHasOwner',
          `string:${name}`,
        ],
        { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address } },
        (error, stdout) => resolve(!error && /boolean true/.test(stdout)),
      );
    });
    if (owned === present) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not ${present ? 'appear on' : 'leave'} the test bus`);
}

/** The store entry of a valid (a day long) OAuth credential for `provider` holding `accessToken`. */
export function credentialEntry(provider: string, accessToken: string): Entries {
  const now = Date.now();
  const credential = toCredential(
    {
      provider,
      profile: 'default',
      clientId: 'store-test',
      server: { issuer: 'https://auth.example.test', token_endpoint: 'https://auth.example.test/token' },
    },
    {
      accessToken,
      refreshToken: `refresh-${accessToken}`,
      idToken: undefined,
      tokenType: 'bearer',
      scopes: ['openid'],
      expiresAt: now + 86_400_000,
      obtainedAt: now,
      account: { subject: `${provider}-user` },
    },
  );
  return { [credentialKey(provider)]: serializeCredential(credential) };
}

/**
 * Writes credentials into `$home/credentials.json` with the given backend through the library's store.
 * The keychain backend talks to the bus in `process.env`: set DBUS_SESSION_BUS_ADDRESS first.
 */
export async function seedStore(home: string, backend: StoreBackend, entries: Entries, env: Record<string, string> = {}): Promise<void> {
  const store = createCredentialStore({ path: join(home, 'credentials.json'), env, choice: backend });
  await store.update((current) => ({ ...current, ...entries }));
}

/** The store file's text. */
export async function storeText(home: string): Promise<string> {
  return readFile(join(home, 'credentials.json'), 'utf8');
}

/** Starts a migration of `home` to `to` in another process, resolves once it is frozen at `step`, then kills it with SIGKILL. */
export async function killMigrationAt(
  fixture: Bundle,
  home: string,
  env: Record<string, string>,
  to: StoreBackend | 'shared',
  step: MigrationStep,
): Promise<void> {
  const child = spawn(process.execPath, [fixture.file, to, step], {
    env: cliEnvironment(home, { ...env, ...fixture.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes(`stopped at ${step}`)) resolve();
      });
    }
    child.once('exit', () => reject(new Error(`the migration ended before "${step}":\n${output}`)));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
}
