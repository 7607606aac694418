// A bad record never breaks `status` of the others (issue "Hostile servers…", case 2).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';
import { seedCredential, seedValidToken } from '../helpers/store-fixtures.js';

const ENV = { LOGINKIT_STORE: 'file' };

test('2. a stored token with a huge expiry (expires_in 1e20) and a damaged record: status shows every other provider', async () => {
  const home = await makeHome();
  await seedValidToken(home, 'fine', 'fine-token');
  const now = Date.now();
  await seedCredential(home, {
    provider: 'immortal',
    accessToken: 'immortal-token',
    expiresAt: now + 1e20 * 1000,
    obtainedAt: now,
    server: { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token' },
  });
  const path = join(home, 'credentials.json');
  const file = JSON.parse(await readFile(path, 'utf8')) as { entries: Record<string, unknown> };
  file.entries['broken/default'] = { kind: 'oauth', provider: 'broken' };
  await writeFile(path, JSON.stringify(file), { mode: 0o600 });

  const text = await runCli(['status'], { home, env: ENV });
  assert.equal(text.code, 0, text.stderr);
  assert.doesNotMatch(text.stderr, /Invalid time value|bug in loginkit/);
  assert.match(text.stdout, /^fine: signed in/m);
  assert.match(text.stdout, /^immortal: signed in/m);
  assert.match(text.stdout, /^broken: cannot be read: The credential "broken\/default" in .* is damaged/m);

  const json = JSON.parse((await runCli(['status', '--json'], { home, env: ENV })).stdout) as {
    providers: Array<{ id: string; loggedIn: boolean; expiresAt: string | null; problem: string | null }>;
  };
  const byId = Object.fromEntries(json.providers.map((p) => [p.id, p]));
  assert.equal(byId.fine?.loggedIn, true);
  assert.equal(byId.immortal?.expiresAt, null, 'an expiry beyond what a date holds is shown as none, not a crash');
  assert.match(byId.broken?.problem ?? '', /damaged/);
});
