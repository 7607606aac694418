import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerMetadata } from '../../src/oauth/server.js';
import { credentialKey, serializeCredential, toCredential } from '../../src/session/credential.js';
import type { EntryStore } from '../../src/store/entry-store.js';
import { createCredentialStore } from '../../src/store/select-store.js';
import { runCli } from '../helpers/cli.js';

/** The environment of a machine of the fleet: the store's URL and its data key. */
export function fleetEnv(url: string, dataKey: string): Record<string, string> {
  return { LOGINKIT_STORE: url, LOGINKIT_DATA_KEY: dataKey };
}

/** The shared store as a test sees it (through the same selection as the CLI). */
export function sharedStore(env: Record<string, string>): EntryStore {
  return createCredentialStore({ path: join(tmpdir(), 'loginkit-unused', 'credentials.json'), env });
}

/** Runs `loginkit store init --generate-key` and returns the new data key. */
export async function initWithNewKey(url: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'loginkit-fleet-admin-'));
  const result = await runCli(['store', 'init', '--generate-key'], { home, env: { LOGINKIT_STORE: url } });
  assert.equal(result.code, 0, result.stderr);
  const key = result.stdout.trim();
  assert.equal(Buffer.from(key, 'base64').length, 32, 'stdout is the base64 data key alone');
  return key;
}

/** A home of its own for one machine: config.json only (the store URL and, optionally, the provider). */
export async function machineHome(url: string, provider?: { id: string; issuer: string; clientId: string }): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'loginkit-machine-'));
  const config: Record<string, unknown> = { store: url };
  if (provider) config.providers = { [provider.id]: { type: 'oauth', issuer: provider.issuer, clientId: provider.clientId } };
  await writeFile(join(home, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return home;
}

/** Puts an OAuth credential into the shared store without signing in. */
export async function seedSharedToken(
  store: EntryStore,
  provider: string,
  accessToken: string,
  options: { validForMs?: number; obtainedAgoMs?: number; server?: ServerMetadata; refreshToken?: string } = {},
): Promise<void> {
  const now = Date.now();
  const credential = toCredential(
    {
      provider,
      profile: 'default',
      clientId: 'loginkit-test',
      server: options.server ?? { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token' },
    },
    {
      accessToken,
      refreshToken: options.refreshToken ?? `${provider}-refresh`,
      idToken: undefined,
      tokenType: 'bearer',
      scopes: ['openid'],
      expiresAt: now + (options.validForMs ?? 3_600_000),
      obtainedAt: now - (options.obtainedAgoMs ?? 0),
      account: { subject: 'seeded' },
    },
  );
  await store.update((entries) => ({ ...entries, [credentialKey(provider)]: serializeCredential(credential) }));
}

/** Makes the stored access token look expired to loginkit while the server still honours it. */
export async function expireSharedToken(store: EntryStore, provider: string): Promise<void> {
  await store.update((entries) => {
    const entry = entries[credentialKey(provider)] as Record<string, unknown> | undefined;
    assert.ok(entry, `a credential for ${provider} is stored`);
    const now = Date.now();
    return { ...entries, [credentialKey(provider)]: { ...entry, obtainedAt: now - 3_600_000, expiresAt: now - 1_000 } };
  });
}

/** The stored access token of `provider`. */
export async function storedAccessToken(store: EntryStore, provider: string): Promise<string | undefined> {
  const entry = (await store.read({ fresh: true }))[credentialKey(provider)] as { accessToken?: string } | undefined;
  return entry?.accessToken;
}

/** Moves one entry from a store to another: written to the new one first, then removed from the old. */
export async function moveCredential(from: EntryStore, to: EntryStore, key: string): Promise<void> {
  const value = (await from.read({ fresh: true }))[key];
  assert.ok(value, `${key} is in the old store`);
  await to.update((entries) => ({ ...entries, [key]: value }));
  await from.update((entries) => {
    const { [key]: _moved, ...rest } = entries;
    return rest;
  });
}
