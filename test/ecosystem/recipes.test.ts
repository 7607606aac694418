// Credential helpers out: the README's recipes for the tools people pair with loginkit, run exactly as
// written through /bin/sh (as those tools and a person's shell run them), with the built `loginkit` on PATH
// and stand-ins for the tools that record what they received. The README must show these very lines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createLoginkit } from '../../src/index.js';
import { readDocs } from '../helpers/docs.js';
import { CLI_ENTRY, makeHome } from '../helpers/cli.js';
import { KEY_COMMAND_CONFIG, PROFILE_RULES_CONFIG, PROJECT_FILE_EXAMPLE } from './readme-examples.js';
import { SDK_LINES } from './sdk-lines.js';
import { writeScript } from './support.js';

/** Claude Code's settings.json entry: it runs the command through /bin/sh and sends stdout as the key. */
const CLAUDE_CODE_SETTINGS = '{ "apiKeyHelper": "loginkit token anthropic" }';

/** The shell lines of the README's "Alongside other tools" section, and what each tool must receive. */
const RECIPES = {
  llm: 'loginkit exec openai -- llm "Ten names for a pet pelican"',
  aider: 'loginkit exec openai,anthropic -- aider --model sonnet',
  opencode: 'loginkit exec anthropic,openai -- opencode run "explain this repository"',
  codexLogin: 'loginkit token openai | codex login --with-api-key',
  codexEnv: 'CODEX_API_KEY="$(loginkit token openai)" codex exec "summarise this repository"',
  tokenJson: 'loginkit token openai --json',
} as const;

/** A stand-in for every tool: records its name, arguments, the variables it reads and (codex login) its stdin. */
const FAKE_TOOL = `import { appendFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
const name = basename(process.argv[1]);
const args = process.argv.slice(2);
const stdin = name === 'codex' && args[0] === 'login' ? readFileSync(0, 'utf8') : null;
const env = {};
for (const v of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'CODEX_API_KEY', 'LOGINKIT_PASSPHRASE']) if (process.env[v]) env[v] = process.env[v];
appendFileSync(process.env.RECIPE_OUT, JSON.stringify({ name, args, env, stdin }) + '\\n');`;

interface Seen {
  name: string;
  args: string[];
  env: Record<string, string>;
  stdin: string | null;
}

const run = promisify(execFile);

describe('recipes for other tools', () => {
  let env: NodeJS.ProcessEnv;
  let out: string;
  const keys = { openai: `sk-proj-${randomBytes(24).toString('hex')}`, anthropic: `sk-ant-api03-${randomBytes(24).toString('hex')}` };

  before(async () => {
    const home = await makeHome();
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    await kit.loginWithApiKey('openai', keys.openai, { verify: false });
    await kit.loginWithApiKey('anthropic', keys.anthropic, { verify: false });
    const bin = await mkdtemp(join(tmpdir(), 'loginkit-tools-'));
    await symlink(CLI_ENTRY, join(bin, 'loginkit'));
    for (const tool of ['llm', 'aider', 'opencode', 'codex']) await writeScript(tool, FAKE_TOOL, bin);
    out = join(bin, 'seen.jsonl');
    env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: home, LOGINKIT_HOME: home, LOGINKIT_STORE: 'file', RECIPE_OUT: out };
  });

  const shell = async (line: string): Promise<{ stdout: string; seen: Seen | undefined }> => {
    await writeFile(out, '');
    const { stdout } = await run('/bin/sh', ['-c', line], { env, timeout: 30_000 });
    const recorded = (await readFile(out, 'utf8')).trim().split('\n').filter(Boolean);
    return { stdout, seen: recorded.length ? (JSON.parse(recorded[recorded.length - 1] as string) as Seen) : undefined };
  };

  test("Claude Code's apiKeyHelper: the command prints the Anthropic key and nothing else", async () => {
    const settings = JSON.parse(CLAUDE_CODE_SETTINGS) as { apiKeyHelper: string };
    const { stdout } = await shell(settings.apiKeyHelper);
    assert.equal(stdout, `${keys.anthropic}\n`);
  });

  test('llm, aider and opencode through exec get the keys in the variables they read, and only the child does', async () => {
    const llm = await shell(RECIPES.llm);
    assert.deepEqual(llm.seen, { name: 'llm', args: ['Ten names for a pet pelican'], env: { OPENAI_API_KEY: keys.openai }, stdin: null });
    const aider = await shell(RECIPES.aider);
    assert.deepEqual(aider.seen?.env, { OPENAI_API_KEY: keys.openai, ANTHROPIC_API_KEY: keys.anthropic });
    assert.deepEqual(aider.seen?.args, ['--model', 'sonnet']);
    const opencode = await shell(RECIPES.opencode);
    assert.deepEqual(opencode.seen?.env, { OPENAI_API_KEY: keys.openai, ANTHROPIC_API_KEY: keys.anthropic });
    for (const result of [llm, aider, opencode]) assert.equal(result.stdout, '');
  });

  test('Codex: its login reads the key from stdin; or CODEX_API_KEY for one run (never in argv)', async () => {
    const login = await shell(RECIPES.codexLogin);
    assert.equal(login.seen?.stdin, `${keys.openai}\n`);
    assert.deepEqual(login.seen?.args, ['login', '--with-api-key']);
    const once = await shell(RECIPES.codexEnv);
    assert.equal(once.seen?.env.CODEX_API_KEY, keys.openai);
    assert.ok(!once.seen?.args.join(' ').includes(keys.openai));
  });

  test('token --json gives {token, expiresAt, type} for tools that cache', async () => {
    const { stdout } = await shell(RECIPES.tokenJson);
    assert.deepEqual(JSON.parse(stdout), { schemaVersion: 1, token: keys.openai, expiresAt: null, type: 'api_key' });
  });

  test('the README shows exactly these recipes and SDK lines', async () => {
    const readme = await readDocs();
    const examples = [KEY_COMMAND_CONFIG, PROFILE_RULES_CONFIG, PROJECT_FILE_EXAMPLE, CLAUDE_CODE_SETTINGS];
    for (const line of [...Object.values(RECIPES), ...examples, ...SDK_LINES]) {
      assert.ok(readme.includes(line), `README.md lacks: ${line}`);
    }
    for (const section of ['## Use with the AI SDKs', '## Key commands', '## Alongside other tools'])
      assert.ok(readme.includes(section), section);
  });
});
