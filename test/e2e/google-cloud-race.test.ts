// 16 `loginkit token` processes on a Google Cloud provider whose stored token has expired: one renewal at
// Google's token endpoint, one token printed by all (the store lock and the re-read under it).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createContext } from '../../src/context.js';
import { runCliProcess } from '../helpers/cli.js';
import { type GoogleStandIn, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { adcFilePath, authorizedUser, makeUserHome, writeJsonFile, writeProvider } from '../google-cloud/fixture.js';

let google: GoogleStandIn;
before(async () => {
  google = await startGoogleStandIn();
});
after(() => google.close());

test('16 `loginkit token` processes on an expired Google token: one refresh grant, one token', async () => {
  const { userHome, loginkitHome } = await makeUserHome();
  await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-race'));
  await writeProvider(loginkitHome, 'vertex', {});
  const env = { HOME: userHome, LOGINKIT_STORE: 'file' };
  const first = await runCliProcess(['token', 'vertex'], { home: loginkitHome, env });
  assert.equal(first.code, 0, first.stderr);
  // The stored token ends now: every process finds it due.
  const ctx = createContext({ home: loginkitHome, env });
  await ctx.store.update((entries) => {
    const entry = entries['google-cloud:vertex'] as { token: { expiresAt: number } };
    return { ...entries, 'google-cloud:vertex': { ...entry, token: { ...entry.token, expiresAt: Date.now() - 1000 } } };
  });
  const before = google.stats.refreshGrants;
  const results = await Promise.all(Array.from({ length: 16 }, () => runCliProcess(['token', 'vertex'], { home: loginkitHome, env })));
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const tokens = new Set(results.map((result) => result.stdout));
  assert.equal(tokens.size, 1, 'every process printed the same token');
  assert.notEqual([...tokens][0], first.stdout, 'a new token');
  assert.equal(google.stats.refreshGrants - before, 1, 'Google saw exactly one refresh');
  assert.equal(google.principalOf(String([...tokens][0]).trim()), 'person@example.com');
});
