// Import from Codex, opencode and llm: sample files written here in each tool's own format (codex-rs
// login AuthDotJson, opencode's Auth.Info union, llm's keys.json), read from a temporary home folder.
// Checks the candidates, the provider names, what is skipped and why, that the files are left exactly
// as they were, that bad files fail with a message naming the file and quoting no secret, and masking.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { StorageError } from '../../src/errors.js';
import {
  ANTHROPIC_SUBSCRIPTION_REASON,
  findSourceFile,
  maskSecret,
  readImportPlan,
  type ImportPlan,
  type ImportSource,
} from '../../src/importers/index.js';

const OPENAI_KEY = 'sk-proj-Zq8vN3kLm2Xp7Rt5Wy1Bc4Df6Gh9Jk0LmNoPqRsTuVwb3Xy';
const ANTHROPIC_KEY = 'sk-ant-api03-Hk2Lm4Np6Qr8St0Uv2Wx4Yz6Ab8Cd0Ef2Gh4Ij6Kl8Mn0';
const GEMINI_KEY = 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q';
const XAI_KEY = 'xai-Pq7Rs9Tu1Vw3Xy5Za7Bc9De1Fg3Hi5Jk7';
const TOGETHER_KEY = 'tgp_v1_Mn3Op5Qr7St9Uv1Wx3Yz5Ab7Cd9Ef1Gh3';
const FIREWORKS_KEY = 'fw_3Zq5Xw7Vu9Ts1Rq3Po5Nm7Lk9Ji1Hg3Fe';
const AZURE_KEY = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const GROQ_KEY = 'gsk_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2';
const CLAUDE_OAUTH_ACCESS = 'sk-ant-oat01-Secret0Access1Token2Value3';
const CLAUDE_OAUTH_REFRESH = 'sk-ant-ort01-Secret4Refresh5Token6Value7';
const CHATGPT_REFRESH = 'rt_Secret8Refresh9Token0ForChatGPT1';
const COPILOT_TOKEN = 'gho_Secret2Copilot3Token4Value5';
const WELLKNOWN_TOKEN = 'wk-Secret6Org7Token8';
const CODEX_PAT = 'pat-Secret3Codex4Only5';

const ACCESS_EXP = 1_900_000_000; // seconds, as in a JWT
const ACCOUNT_ID = 'd1f0c2a4-5b6e-4c3d-9a8b-7e6f5d4c3b2a';

/** An unsigned JWT: the importer decodes claims, it never verifies. */
function jwt(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.c2lnbmF0dXJl`;
}

const ACCESS_TOKEN = jwt({ iss: 'https://auth.openai.com', exp: ACCESS_EXP, 'https://api.openai.com/auth': {} });
const ID_TOKEN = jwt({
  email: 'ada@example.com',
  'https://api.openai.com/auth': { chatgpt_plan_type: 'plus', chatgpt_account_id: ACCOUNT_ID },
});

const SECRETS = [
  OPENAI_KEY,
  ANTHROPIC_KEY,
  GEMINI_KEY,
  XAI_KEY,
  TOGETHER_KEY,
  FIREWORKS_KEY,
  AZURE_KEY,
  GROQ_KEY,
  CLAUDE_OAUTH_ACCESS,
  CLAUDE_OAUTH_REFRESH,
  CHATGPT_REFRESH,
  COPILOT_TOKEN,
  WELLKNOWN_TOKEN,
  CODEX_PAT,
  ACCESS_TOKEN,
  ID_TOKEN,
];

/** Nothing a person might see — skipped entries, origins, the file name — holds a secret. */
function assertNoSecretShown(plan: ImportPlan): void {
  const shown = JSON.stringify([plan.file, plan.skipped, plan.candidates.map((c) => c.origin)]);
  for (const secret of SECRETS) assert.ok(!shown.includes(secret), `a secret appears in ${shown}`);
}

function assertNoSecretIn(message: string): void {
  for (const secret of SECRETS) assert.ok(!message.includes(secret), `a secret appears in: ${message}`);
  assert.ok(!/sk-|Secret/.test(message), `something secret-like appears in: ${message}`);
}

let root: string;
let caseNumber = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'loginkit-import-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh, empty home folder; the env points only at it. */
async function freshHome(): Promise<{ home: string; env: Record<string, string | undefined> }> {
  const home = join(root, `home-${++caseNumber}`);
  await mkdir(home, { recursive: true });
  return { home, env: { HOME: home } };
}

/** Writes a tool's file where that tool keeps it, 0600 like the tools do, with an old mtime. */
async function writeSource(source: ImportSource, env: Record<string, string | undefined>, contents: string): Promise<string> {
  const file = findSourceFile(source, env, 'linux');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, contents, { mode: 0o600 });
  const past = new Date('2024-05-01T12:00:00Z');
  await utimes(file, past, past);
  return file;
}

/** Reads the plan and checks that the source file is byte-for-byte and mtime-for-mtime untouched. */
async function planLeavingFileUntouched(source: ImportSource, env: Record<string, string | undefined>): Promise<ImportPlan> {
  const file = findSourceFile(source, env, 'linux');
  const bytesBefore = await readFile(file);
  const statBefore = await stat(file);
  const plan = await readImportPlan(source, env, 'linux');
  const statAfter = await stat(file);
  assert.deepEqual(await readFile(file), bytesBefore, 'the source file bytes are unchanged');
  assert.equal(statAfter.mtimeMs, statBefore.mtimeMs, 'the source file mtime is unchanged');
  assert.equal(statAfter.mode, statBefore.mode, 'the source file mode is unchanged');
  assert.equal(plan.file, file);
  assert.equal(plan.source, source);
  assertNoSecretShown(plan);
  return plan;
}

async function expectStorageError(promise: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StorageError, `expected a StorageError, got ${String(error)}`);
    assert.equal(error.code, 'storage');
    assert.equal(error.path, file);
    assert.ok(error.message.includes(file), `the message names the file: ${error.message}`);
    assert.match(error.message, pattern);
    assertNoSecretIn(error.message);
    return true;
  });
}

describe('where each tool keeps its credentials', () => {
  test('Codex: $CODEX_HOME/auth.json, else ~/.codex/auth.json', () => {
    assert.equal(findSourceFile('codex', {}, 'linux', '/home/ada'), '/home/ada/.codex/auth.json');
    assert.equal(findSourceFile('codex', { HOME: '/home/bo' }, 'darwin'), '/home/bo/.codex/auth.json');
    assert.equal(findSourceFile('codex', { CODEX_HOME: '/srv/codex' }, 'linux', '/home/ada'), '/srv/codex/auth.json');
    assert.equal(findSourceFile('codex', { CODEX_HOME: '' }, 'linux', '/home/ada'), '/home/ada/.codex/auth.json');
    assert.equal(findSourceFile('codex', { USERPROFILE: 'C:\\Users\\Ada' }, 'win32'), 'C:\\Users\\Ada\\.codex\\auth.json');
  });

  test('opencode: $XDG_DATA_HOME/opencode/auth.json, else ~/.local/share on every platform', () => {
    assert.equal(findSourceFile('opencode', {}, 'linux', '/home/ada'), '/home/ada/.local/share/opencode/auth.json');
    assert.equal(findSourceFile('opencode', { XDG_DATA_HOME: '/data' }, 'linux', '/home/ada'), '/data/opencode/auth.json');
    // xdg-basedir has no macOS or Windows branch.
    assert.equal(findSourceFile('opencode', {}, 'darwin', '/Users/ada'), '/Users/ada/.local/share/opencode/auth.json');
    assert.equal(
      findSourceFile('opencode', { USERPROFILE: 'C:\\Users\\Ada', APPDATA: 'C:\\Users\\Ada\\AppData\\Roaming' }, 'win32'),
      'C:\\Users\\Ada\\.local\\share\\opencode\\auth.json',
    );
  });

  test("llm: $LLM_USER_PATH/keys.json, else click's app folder for io.datasette.llm", () => {
    assert.equal(findSourceFile('llm', { LLM_USER_PATH: '/opt/llm' }, 'darwin', '/Users/ada'), '/opt/llm/keys.json');
    assert.equal(findSourceFile('llm', {}, 'linux', '/home/ada'), '/home/ada/.config/io.datasette.llm/keys.json');
    assert.equal(findSourceFile('llm', { XDG_CONFIG_HOME: '/cfg' }, 'linux', '/home/ada'), '/cfg/io.datasette.llm/keys.json');
    assert.equal(
      findSourceFile('llm', { XDG_CONFIG_HOME: '/cfg' }, 'darwin', '/Users/ada'),
      '/Users/ada/Library/Application Support/io.datasette.llm/keys.json',
    );
    assert.equal(
      findSourceFile('llm', { APPDATA: 'C:\\Users\\Ada\\AppData\\Roaming' }, 'win32', 'C:\\Users\\Ada'),
      'C:\\Users\\Ada\\AppData\\Roaming\\io.datasette.llm\\keys.json',
    );
    assert.equal(findSourceFile('llm', {}, 'win32', 'C:\\Users\\Ada'), 'C:\\Users\\Ada\\io.datasette.llm\\keys.json');
  });
});

describe('Codex auth.json', () => {
  test('an API key and ChatGPT tokens become an openai key and openai OAuth tokens', async () => {
    const { env } = await freshHome();
    await writeSource(
      'codex',
      env,
      JSON.stringify(
        {
          auth_mode: 'chatgpt',
          OPENAI_API_KEY: OPENAI_KEY,
          tokens: { id_token: ID_TOKEN, access_token: ACCESS_TOKEN, refresh_token: CHATGPT_REFRESH, account_id: null },
          last_refresh: '2026-01-02T03:04:05.678Z',
          some_future_field: { ignored: true },
        },
        null,
        2,
      ),
    );
    const plan = await planLeavingFileUntouched('codex', env);
    assert.deepEqual(plan.candidates, [
      { kind: 'api_key', provider: 'openai', key: OPENAI_KEY, origin: 'codex auth.json OPENAI_API_KEY' },
      {
        kind: 'oauth',
        provider: 'openai',
        accessToken: ACCESS_TOKEN,
        refreshToken: CHATGPT_REFRESH,
        idToken: ID_TOKEN,
        expiresAt: ACCESS_EXP * 1000, // the JWT's exp, in ms
        accountId: ACCOUNT_ID, // from the ID token's https://api.openai.com/auth claim
        origin: 'codex auth.json tokens',
      },
    ]);
    assert.deepEqual(plan.skipped, []);
  });

  test('a null API key is skipped with a reason; tokens.account_id wins over the ID token', async () => {
    const { env } = await freshHome();
    await writeSource(
      'codex',
      env,
      JSON.stringify({
        OPENAI_API_KEY: null,
        tokens: { id_token: ID_TOKEN, access_token: ACCESS_TOKEN, refresh_token: CHATGPT_REFRESH, account_id: 'acct-from-file' },
        personal_access_token: CODEX_PAT,
      }),
    );
    const plan = await planLeavingFileUntouched('codex', env);
    assert.equal(plan.candidates.length, 1);
    const [oauth] = plan.candidates;
    assert.equal(oauth?.kind, 'oauth');
    assert.equal(oauth.kind === 'oauth' && oauth.accountId, 'acct-from-file');
    assert.deepEqual(plan.skipped, [
      { what: 'codex OPENAI_API_KEY', reason: 'no API key stored (OPENAI_API_KEY is not set)' },
      { what: 'codex personal_access_token', reason: 'a Codex-only credential that loginkit cannot use' },
    ]);
  });

  test('an access token that is not a JWT has no known expiry; null tokens are reported', async () => {
    const { env } = await freshHome();
    await writeSource(
      'codex',
      env,
      JSON.stringify({ OPENAI_API_KEY: null, tokens: { id_token: 'opaque', access_token: 'opaque-access', refresh_token: '' } }),
    );
    const plan = await planLeavingFileUntouched('codex', env);
    assert.deepEqual(plan.candidates, [
      {
        kind: 'oauth',
        provider: 'openai',
        accessToken: 'opaque-access',
        idToken: 'opaque',
        expiresAt: null,
        origin: 'codex auth.json tokens',
      },
    ]);

    const { env: apiKeyOnly } = await freshHome();
    await writeSource('codex', apiKeyOnly, JSON.stringify({ OPENAI_API_KEY: OPENAI_KEY, tokens: null }));
    const second = await planLeavingFileUntouched('codex', apiKeyOnly);
    assert.deepEqual(
      second.candidates.map((c) => c.kind),
      ['api_key'],
    );
    assert.deepEqual(second.skipped, [{ what: 'codex tokens (ChatGPT sign-in)', reason: 'not signed in with ChatGPT (no tokens)' }]);
  });

  test('a file of the wrong shape fails naming the file and the field, quoting nothing', async () => {
    const { env } = await freshHome();
    const file = await writeSource(
      'codex',
      env,
      JSON.stringify({ OPENAI_API_KEY: OPENAI_KEY, tokens: { access_token: 42, refresh_token: CHATGPT_REFRESH } }),
    );
    await expectStorageError(
      readImportPlan('codex', env, 'linux'),
      file,
      /not Codex's auth\.json: field tokens\.access_token must be a string/,
    );
  });
});

describe('a source file that is not a regular file', () => {
  test('a FIFO where auth.json should be is refused at once, naming it, never waited on', { timeout: 10_000 }, async () => {
    const { env } = await freshHome();
    const file = findSourceFile('codex', env, 'linux');
    await mkdir(dirname(file), { recursive: true });
    execFileSync('mkfifo', ['-m', '600', file]);
    await expectStorageError(readImportPlan('codex', env, 'linux'), file, /not a regular file/);
  });
});

describe('opencode auth.json', () => {
  test('API keys map to loginkit providers; Anthropic OAuth and unknown providers are skipped', async () => {
    const { env } = await freshHome();
    const expires = 1_893_456_000_000; // ms, as opencode stores it
    await writeSource(
      'opencode',
      env,
      JSON.stringify(
        {
          anthropic: { type: 'oauth', refresh: CLAUDE_OAUTH_REFRESH, access: CLAUDE_OAUTH_ACCESS, expires },
          openai: { type: 'oauth', refresh: CHATGPT_REFRESH, access: ACCESS_TOKEN, expires, accountId: ACCOUNT_ID },
          google: { type: 'api', key: GEMINI_KEY, metadata: { region: 'us' } },
          togetherai: { type: 'api', key: TOGETHER_KEY },
          'fireworks-ai': { type: 'api', key: FIREWORKS_KEY },
          azure: { type: 'api', key: AZURE_KEY },
          xai: { type: 'api', key: XAI_KEY },
          'github-copilot': { type: 'oauth', refresh: COPILOT_TOKEN, access: COPILOT_TOKEN, expires: 0 },
          groq: { type: 'oauth', refresh: GROQ_KEY, access: GROQ_KEY, expires },
          'https://opencode.example.com': { type: 'wellknown', key: 'ORG_TOKEN', token: WELLKNOWN_TOKEN },
          broken: { type: 'unknown', key: OPENAI_KEY },
        },
        null,
        2,
      ),
    );
    const plan = await planLeavingFileUntouched('opencode', env);
    assert.deepEqual(plan.candidates, [
      {
        kind: 'oauth',
        provider: 'openai',
        accessToken: ACCESS_TOKEN,
        refreshToken: CHATGPT_REFRESH,
        expiresAt: expires,
        accountId: ACCOUNT_ID,
        entry: 'openai',
        origin: 'opencode auth.json "openai"',
      },
      { kind: 'api_key', provider: 'gemini', key: GEMINI_KEY, origin: 'opencode auth.json "google"' },
      { kind: 'api_key', provider: 'together', key: TOGETHER_KEY, origin: 'opencode auth.json "togetherai"' },
      { kind: 'api_key', provider: 'fireworks', key: FIREWORKS_KEY, origin: 'opencode auth.json "fireworks-ai"' },
      { kind: 'api_key', provider: 'azure-openai', key: AZURE_KEY, origin: 'opencode auth.json "azure"' },
      { kind: 'api_key', provider: 'xai', key: XAI_KEY, origin: 'opencode auth.json "xai"' },
    ]);
    assert.deepEqual(plan.skipped, [
      { what: 'opencode "anthropic" (oauth)', reason: ANTHROPIC_SUBSCRIPTION_REASON },
      { what: 'opencode "github-copilot" (oauth)', reason: 'no matching loginkit provider' },
      {
        what: 'opencode "groq" (oauth)',
        reason: 'loginkit has no OAuth sign-in for Groq, so it could not refresh these tokens',
      },
      {
        what: 'opencode "https://opencode.example.com" (wellknown)',
        reason: "a token for an organisation's opencode server, not an AI provider credential",
      },
      { what: 'opencode "broken"', reason: 'not a credential entry opencode writes' },
    ]);
    assert.equal(
      ANTHROPIC_SUBSCRIPTION_REASON,
      'Anthropic does not allow Claude subscription credentials in third-party tools; use an API key',
    );
  });

  test('an Anthropic API key is imported; names with escape sequences are printed harmlessly', async () => {
    const { env } = await freshHome();
    await writeSource(
      'opencode',
      env,
      JSON.stringify({ anthropic: { type: 'api', key: ANTHROPIC_KEY }, '\u001b[31mevil': { type: 'api', key: OPENAI_KEY } }),
    );
    const plan = await planLeavingFileUntouched('opencode', env);
    assert.deepEqual(plan.candidates, [
      { kind: 'api_key', provider: 'anthropic', key: ANTHROPIC_KEY, origin: 'opencode auth.json "anthropic"' },
    ]);
    assert.equal(plan.skipped.length, 1);
    assert.ok(!plan.skipped[0]?.what.includes('\u001b'), 'no escape character reaches the report');
  });

  test('a file that is not an object fails naming the file', async () => {
    const { env } = await freshHome();
    const file = await writeSource('opencode', env, JSON.stringify([{ type: 'api', key: OPENAI_KEY }]));
    await expectStorageError(readImportPlan('opencode', env, 'linux'), file, /not opencode's auth\.json: the top level must be an? /);
  });
});

describe('llm keys.json', () => {
  test("llm's and its plugins' key names map to loginkit providers; the note is ignored", async () => {
    const { env } = await freshHome();
    await writeSource(
      'llm',
      env,
      `${JSON.stringify(
        {
          '// Note': 'This file stores secret API credentials. Do not share!',
          openai: OPENAI_KEY,
          claude: ANTHROPIC_KEY,
          gemini: `${GEMINI_KEY}\n`,
          grok: XAI_KEY,
          replicate: 'r8_Secret9Replicate0Token1',
          groq: { nested: true },
          mistral: '',
        },
        null,
        2,
      )}\n`,
    );
    const plan = await planLeavingFileUntouched('llm', env);
    assert.deepEqual(plan.candidates, [
      { kind: 'api_key', provider: 'openai', key: OPENAI_KEY, origin: 'llm keys.json "openai"' },
      { kind: 'api_key', provider: 'anthropic', key: ANTHROPIC_KEY, origin: 'llm keys.json "claude"' },
      { kind: 'api_key', provider: 'gemini', key: GEMINI_KEY, origin: 'llm keys.json "gemini"' },
      { kind: 'api_key', provider: 'xai', key: XAI_KEY, origin: 'llm keys.json "grok"' },
    ]);
    assert.deepEqual(plan.skipped, [
      { what: 'llm "replicate"', reason: 'no matching loginkit provider' },
      { what: 'llm "groq"', reason: 'the value is not a string' },
      { what: 'llm "mistral"', reason: 'the key is empty' },
    ]);
    assert.ok(!JSON.stringify(plan).includes('r8_Secret9Replicate0Token1'), 'an unknown key is not carried along');
  });

  test('two names for one provider: the loginkit id wins; a Claude subscription token is refused', async () => {
    const { env } = await freshHome();
    await writeSource(
      'llm',
      env,
      JSON.stringify({
        claude: CLAUDE_OAUTH_ACCESS,
        anthropic: ANTHROPIC_KEY,
        hf: 'hf_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1',
        huggingface: '',
      }),
    );
    const plan = await planLeavingFileUntouched('llm', env);
    assert.deepEqual(plan.candidates, [
      { kind: 'api_key', provider: 'anthropic', key: ANTHROPIC_KEY, origin: 'llm keys.json "anthropic"' },
      { kind: 'api_key', provider: 'huggingface', key: 'hf_Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1', origin: 'llm keys.json "hf"' },
    ]);
    assert.deepEqual(plan.skipped, [
      { what: 'llm "claude"', reason: ANTHROPIC_SUBSCRIPTION_REASON },
      { what: 'llm "huggingface"', reason: 'the key is empty' },
    ]);

    const { env: both } = await freshHome();
    await writeSource('llm', both, JSON.stringify({ claude: ANTHROPIC_KEY, anthropic: ANTHROPIC_KEY.replace('Hk2', 'Zz9') }));
    const second = await planLeavingFileUntouched('llm', both);
    assert.deepEqual(
      second.candidates.map((c) => c.origin),
      ['llm keys.json "anthropic"'],
    );
    assert.deepEqual(second.skipped, [
      { what: 'llm "claude"', reason: 'duplicate: anthropic already gets its API key from llm "anthropic"' },
    ]);
  });

  test('LLM_USER_PATH is honoured', async () => {
    const { home } = await freshHome();
    const env = { HOME: home, LLM_USER_PATH: join(home, 'custom-llm') };
    await writeSource('llm', env, JSON.stringify({ mistral: 'Mn3Op5Qr7St9Uv1Wx3Yz5Ab7Cd9Ef1Gh' }));
    const plan = await planLeavingFileUntouched('llm', env);
    assert.equal(plan.file, join(home, 'custom-llm', 'keys.json'));
    assert.deepEqual(
      plan.candidates.map((c) => c.provider),
      ['mistral'],
    );
  });
});

describe('files that cannot be imported', () => {
  test('a missing file names the path and says how to create it', async () => {
    const { env } = await freshHome();
    for (const [source, hint] of [
      ['codex', /codex login/],
      ['opencode', /opencode auth login/],
      ['llm', /llm keys set/],
    ] as const) {
      await expectStorageError(readImportPlan(source, env, 'linux'), findSourceFile(source, env, 'linux'), hint);
    }
  });

  test('invalid JSON names the file and where, never the text around the error', async () => {
    const { env } = await freshHome();
    // Truncated mid-key: the parser's own message would quote the key.
    const file = await writeSource('llm', env, `{"openai": "${OPENAI_KEY}", "gemini": "${GEMINI_KEY}`);
    await expectStorageError(readImportPlan('llm', env, 'linux'), file, /is not valid JSON.*expected llm's credentials file/);
    await assert.rejects(readImportPlan('llm', env, 'linux'), (error: unknown) => {
      assert.equal((error as Error).cause, undefined, 'the parser error, which quotes the file, is not attached');
      return true;
    });

    const { env: codexEnv } = await freshHome();
    const codexFile = await writeSource('codex', codexEnv, `{"OPENAI_API_KEY": ${OPENAI_KEY}}`);
    await expectStorageError(readImportPlan('codex', codexEnv, 'linux'), codexFile, /not valid JSON/);
  });

  test('a folder where the file should be fails clearly', async () => {
    const { env } = await freshHome();
    const file = findSourceFile('opencode', env, 'linux');
    await mkdir(file, { recursive: true });
    await expectStorageError(readImportPlan('opencode', env, 'linux'), file, /is a folder, not a regular file/);
  });

  test('an unreadable file fails clearly', { skip: process.getuid?.() === 0 && 'root reads mode-000 files' }, async () => {
    const { env } = await freshHome();
    const file = await writeSource('codex', env, JSON.stringify({ OPENAI_API_KEY: OPENAI_KEY }));
    await chmod(file, 0o000);
    await expectStorageError(readImportPlan('codex', env, 'linux'), file, /Cannot read .*EACCES/);
  });
});

describe('maskSecret', () => {
  test('a short prefix and the last 4 characters', () => {
    assert.equal(maskSecret(OPENAI_KEY), 'sk-pro…b3Xy');
    assert.equal(maskSecret(ANTHROPIC_KEY), 'sk-ant…8Mn0');
    assert.equal(maskSecret('abcdefghijklmnopqrstuvwxyz01'), 'abcde…yz01'); // 28 chars: 9 may show
  });

  test('short secrets show only … and the last 2, and at 12 only the last 4', () => {
    assert.equal(maskSecret('abcdefghijk'), '…jk');
    assert.equal(maskSecret('abcdef'), '…ef');
    assert.equal(maskSecret('abcde'), '…e');
    assert.equal(maskSecret('ab'), '…');
    assert.equal(maskSecret(''), '…');
    assert.equal(maskSecret('abcdefghijkl'), '…ijkl');
  });

  test('never more than a third of the secret', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    for (let length = 0; length <= alphabet.length; length++) {
      const secret = alphabet.slice(0, length);
      const shown = maskSecret(secret).replace('…', '');
      assert.ok(shown.length <= Math.floor(length / 3), `${length}: "${shown}" shows too much`);
      assert.ok(secret.endsWith(shown.slice(shown.length - Math.min(shown.length, length >= 12 ? 4 : 2))));
    }
  });
});
