import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';

const ENV = { LOGINKIT_STORE: 'file' };

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

test('import codex: API key and ChatGPT tokens, dry run first, source untouched, existing credentials kept', async () => {
  const home = await makeHome();
  const codexHome = join(home, 'codex');
  await mkdir(codexHome);
  const apiKey = 'sk-proj-CODEXIMPORTEDKEY00000000000000000000abcd';
  const accessToken = jwt({ exp: Math.floor(Date.now() / 1000) + 3600, sub: 'user-1' });
  const idToken = jwt({
    sub: 'user-1',
    email: 'pat@example.test',
    'https://api.openai.com/auth': { chatgpt_plan_type: 'plus', chatgpt_account_id: 'acct-123' },
  });
  const file = join(codexHome, 'auth.json');
  await writeFile(
    file,
    JSON.stringify({
      OPENAI_API_KEY: apiKey,
      tokens: { id_token: idToken, access_token: accessToken, refresh_token: 'rt-secret-value', account_id: 'acct-123' },
      last_refresh: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  const before = { bytes: await readFile(file), mtime: (await stat(file)).mtimeMs };
  const env = { ...ENV, CODEX_HOME: codexHome };

  const dry = await runCli(['import', 'codex', '--dry-run'], { home, env });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stderr, /Would import/);
  assert.match(dry.stderr, /openai API key sk-pro…abcd/);
  assert.equal((await runCli(['token', 'openai'], { home, env })).code, 3, 'a dry run stores nothing');

  const real = await runCli(['import', 'codex'], { home, env });
  assert.equal(real.code, 0, real.stderr);
  for (const secret of [apiKey, accessToken, idToken, 'rt-secret-value']) assert.ok(!(real.stderr + real.stdout).includes(secret));
  assert.match(real.stderr, /\+ openai API key sk-pro…abcd → profile "default"/);
  assert.match(real.stderr, /\+ openai sign-in → profile "chatgpt"/);
  const after = { bytes: await readFile(file), mtime: (await stat(file)).mtimeMs };
  assert.deepEqual(after, before, 'the source file is not modified');

  assert.equal((await runCli(['token', 'openai'], { home, env })).stdout, `${apiKey}\n`);
  const oauth = JSON.parse((await runCli(['status', 'openai', '--profile', 'chatgpt', '--json'], { home, env })).stdout) as {
    providers: Array<{ method: string; account: string; plan: string; workspace: string; expiresAt: string }>;
  };
  const [entry] = oauth.providers;
  assert.deepEqual([entry?.method, entry?.account, entry?.plan, entry?.workspace], ['oauth', 'pat@example.test', 'plus', 'acct-123']);
  assert.ok(entry?.expiresAt && Math.abs(Date.parse(entry.expiresAt) - (Date.now() + 3_600_000)) < 120_000, 'expiry from the access token');
  assert.equal((await runCli(['token', 'openai', '--profile', 'chatgpt'], { home, env })).stdout, `${accessToken}\n`);

  // A named profile places the sign-in there too; the key from the same file then meets it and is skipped.
  const work = await runCli(['import', 'codex', '--profile', 'work'], { home, env });
  assert.equal(work.code, 0, work.stderr);
  assert.match(work.stderr, /\+ openai sign-in → profile "work"/);
  assert.match(work.stderr, /skipped openai API key .*already has a credential in profile "work"/);
  assert.equal((await runCli(['token', 'openai', '--profile', 'work'], { home, env })).stdout, `${accessToken}\n`);

  const again = await runCli(['import', 'codex'], { home, env });
  assert.equal(again.code, 0);
  assert.match(again.stderr, /skipped .*already has a credential in profile "default"/);
  assert.match(again.stderr, /skipped .*already has a credential in profile "chatgpt"/);
});

test('import opencode and llm: keys mapped to loginkit providers, policy and unknown entries skipped with reasons', async () => {
  const home = await makeHome();
  const dataHome = join(home, 'data');
  await mkdir(join(dataHome, 'opencode'), { recursive: true });
  const groqKey = `gsk_${'a'.repeat(52)}`;
  await writeFile(
    join(dataHome, 'opencode', 'auth.json'),
    JSON.stringify({
      groq: { type: 'api', key: groqKey },
      anthropic: { type: 'oauth', refresh: 'r', access: 'a', expires: Date.now() + 1000 },
      'github-copilot': { type: 'oauth', refresh: 'r', access: 'a', expires: 0 },
    }),
    { mode: 0o600 },
  );
  const opencode = await runCli(['import', 'opencode'], { home, env: { ...ENV, XDG_DATA_HOME: dataHome } });
  assert.equal(opencode.code, 0, opencode.stderr);
  assert.match(opencode.stderr, /\+ groq API key gsk_/);
  assert.match(opencode.stderr, /skipped .*anthropic.*Claude subscription/i);
  assert.match(opencode.stderr, /skipped .*github-copilot/);
  assert.equal((await runCli(['token', 'groq'], { home, env: ENV })).stdout, `${groqKey}\n`);

  const llmDir = join(home, 'llm');
  await mkdir(llmDir);
  const claudeKey = `sk-ant-api03-${'b'.repeat(40)}`;
  await writeFile(
    join(llmDir, 'keys.json'),
    JSON.stringify({ '// Note': 'This file stores secret API credential keys', claude: claudeKey, mystery: 'x' }),
  );
  const llm = await runCli(['import', 'llm', '--json'], { home, env: { ...ENV, LLM_USER_PATH: llmDir } });
  assert.equal(llm.code, 0, llm.stderr);
  const report = JSON.parse(llm.stdout) as { imported: Array<{ provider: string }>; skipped: Array<{ what: string }> };
  assert.deepEqual(
    report.imported.map((i) => i.provider),
    ['anthropic'],
  );
  assert.ok(report.skipped.some((s) => s.what.includes('mystery')));
  assert.ok(!llm.stdout.includes(claudeKey) && !llm.stderr.includes(claudeKey));
  assert.equal((await runCli(['token', 'anthropic'], { home, env: ENV })).stdout, `${claudeKey}\n`);

  const missing = await runCli(['import', 'llm'], { home, env: { ...ENV, LLM_USER_PATH: join(home, 'nowhere') } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nowhere/);
});
