// Shared by the lifecycle tests: stored credentials written the way loginkit writes them, and small stand-ins.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The store file inside a home, as the library names it. */
export const STORE = 'credentials.json';

/** What a seeded credential needs; everything else gets a plausible default. */
export interface SeedCredential {
  provider: string;
  /** Where the refresh goes (the stored `server.token_endpoint`). */
  tokenEndpoint: string;
  accessToken: string;
  refreshToken?: string;
  /** Milliseconds from now until the access token expires (negative: already expired). */
  expiresInMs: number;
  /** Lifetime the token was issued with. Default 1 hour. */
  lifetimeMs?: number;
  /** Extra fields for the stored `server` metadata. */
  server?: Record<string, unknown>;
  idToken?: string;
}

/** One stored credential entry in the shape `serializeCredential` produces. */
export function credentialEntry(seed: SeedCredential, now = Date.now()): Record<string, unknown> {
  const expiresAt = now + seed.expiresInMs;
  const lifetime = seed.lifetimeMs ?? 3_600_000;
  const origin = new URL(seed.tokenEndpoint).origin;
  return {
    kind: 'oauth',
    provider: seed.provider,
    profile: 'default',
    clientId: 'loginkit-test',
    server: { issuer: origin, token_endpoint: seed.tokenEndpoint, ...seed.server },
    accessToken: seed.accessToken,
    ...(seed.refreshToken === undefined ? {} : { refreshToken: seed.refreshToken }),
    ...(seed.idToken === undefined ? {} : { idToken: seed.idToken }),
    tokenType: 'bearer',
    scopes: ['openid', 'offline_access'],
    expiresAt,
    obtainedAt: expiresAt - lifetime,
  };
}

/** The bytes of a version-1 plaintext store holding `entries`. */
export function storeBytes(entries: Record<string, unknown>): string {
  return `${JSON.stringify({ version: 1, entries }, null, 2)}\n`;
}

/** Writes the plaintext store of `home` (0600) with these credentials, replacing whatever was there. */
export async function seedStore(home: string, seeds: SeedCredential[]): Promise<void> {
  const entries = Object.fromEntries(seeds.map((seed) => [`${seed.provider}/default`, credentialEntry(seed)]));
  const path = join(home, STORE);
  await writeFile(path, storeBytes(entries), { mode: 0o600 });
  await chmod(path, 0o600);
}

/** The stored entries of `home`'s plaintext store. */
export async function readStoredEntries(home: string): Promise<Record<string, Record<string, unknown>>> {
  const file = JSON.parse(await readFile(join(home, STORE), 'utf8')) as { entries: Record<string, Record<string, unknown>> };
  return file.entries;
}

export { refusedPort } from '../helpers/stand-in.js';

/** Reads a request's whole body as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** Answers with JSON, as a token endpoint does. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** A successful refresh response. */
export function tokenResponse(accessToken: string, refreshToken?: string, expiresIn = 3600): Record<string, unknown> {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: expiresIn,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}

/** Non-empty lines of a CLI's output. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
