import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerMetadata } from '../../src/oauth/server.js';
import { credentialKey, serializeCredential, toCredential } from '../../src/session/credential.js';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';

/** A credential to put in a plaintext store without signing in. */
export interface SeedCredential {
  provider: string;
  accessToken: string;
  refreshToken?: string;
  expiresAt: number | null;
  obtainedAt: number;
  server: ServerMetadata;
  clientId?: string;
}

/** Writes `seed` into `$home/credentials.json` (plaintext file backend) through the store's own atomic write. */
export async function seedCredential(home: string, seed: SeedCredential): Promise<void> {
  const store = createFileStore(join(home, 'credentials.json'), plaintextCodec);
  const credential = toCredential(
    { provider: seed.provider, profile: 'default', clientId: seed.clientId ?? 'loginkit-test', server: seed.server },
    {
      accessToken: seed.accessToken,
      refreshToken: seed.refreshToken,
      idToken: undefined,
      tokenType: 'bearer',
      scopes: ['openid'],
      expiresAt: seed.expiresAt,
      obtainedAt: seed.obtainedAt,
      account: { subject: 'seeded' },
    },
  );
  await store.update((entries) => ({ ...entries, [credentialKey(seed.provider)]: serializeCredential(credential) }));
}

/** Seeds an OAuth credential whose access token is valid for `validForMs`, from a server that is never called. */
export async function seedValidToken(home: string, provider: string, accessToken: string, validForMs = 3_600_000): Promise<void> {
  const now = Date.now();
  await seedCredential(home, {
    provider,
    accessToken,
    refreshToken: `${provider}-refresh`,
    expiresAt: now + validForMs,
    obtainedAt: now,
    server: { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token' },
  });
}

/**
 * Makes the stored access token of `provider` look expired to loginkit while the server still honours it;
 * a refreshed token then lives a full server TTL. Plaintext file backend only.
 */
export async function expireStoredToken(home: string, provider: string): Promise<void> {
  const path = join(home, 'credentials.json');
  const file = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, { expiresAt: number; obtainedAt: number }> };
  const entry = file.entries[credentialKey(provider)];
  assert.ok(entry, `a credential for ${provider} is stored`);
  const now = Date.now();
  entry.obtainedAt = now - 3_600_000;
  entry.expiresAt = now - 1_000;
  await writeFile(path, JSON.stringify(file), { mode: 0o600 });
}
