// The feature modules take a context, so their logic is tested in-process without a CLI or a file.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../src/context.js';
import { LoginRequiredError, UnknownProviderError } from '../../src/errors.js';
import { secretFor } from '../../src/features/credentials.js';
import { statusOf } from '../../src/features/status.js';

const KEY = `sk-proj-${'Z9y8X7w6V5'.repeat(3)}`;
const STORED = `sk-proj-${'A1b2C3d4E5'.repeat(3)}`;

async function context(env: Record<string, string> = {}) {
  const home = await mkdtemp(join(tmpdir(), 'loginkit-features-'));
  return createContext({ home, env, store: 'memory', now: () => 1_000_000 });
}

test('secretFor: the variable wins unless the store is asked for; a missing one is a login-required error naming it', async () => {
  const ctx = await context({ OPENAI_API_KEY: KEY });
  await ctx.session.save({ kind: 'api_key', provider: 'openai', profile: 'default', key: STORED, verified: true, obtainedAt: 0 });
  assert.deepEqual(await secretFor(ctx, 'openai', {}), { source: 'env', variable: 'OPENAI_API_KEY', value: KEY });
  const fromStore = await secretFor(ctx, 'openai', { source: 'store' });
  assert.equal(fromStore.source === 'store' && fromStore.credential.kind === 'api_key' && fromStore.credential.key, STORED);
  const bare = await context();
  await assert.rejects(
    secretFor(bare, 'openai', { source: 'env' }),
    (e: unknown) => e instanceof LoginRequiredError && /OPENAI_API_KEY is not set/.test(e.message),
  );
  await assert.rejects(secretFor(bare, 'nope', {}), UnknownProviderError);
});

test('statusOf: every source listed, the one in effect marked, keys masked', async () => {
  const ctx = await context({ OPENAI_API_KEY: KEY });
  await ctx.session.save({ kind: 'api_key', provider: 'openai', profile: 'work', key: STORED, verified: false, obtainedAt: 0 });
  const status = await statusOf(ctx, 'openai', undefined);
  assert.equal(status.source, 'env');
  assert.deepEqual(
    status.sources.map((s) => [s.kind, s.name, s.inEffect]),
    [
      ['env', 'OPENAI_API_KEY', true],
      ['api_key', 'work', false],
    ],
  );
  assert.ok(!JSON.stringify(status).includes(KEY) && !JSON.stringify(status).includes(STORED), 'no key in full');
  const work = await statusOf(ctx, 'openai', 'work');
  assert.equal(work.source, 'env', 'the variable still wins for a named profile');
});
