import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI_ENTRY, cliEnvironment, makeHome, runCli } from '../helpers/cli.js';

/** Runs the CLI in a pseudo-terminal (util-linux `script`), typing each answer once its prompt appears. */
async function inTerminal(home: string, args: string[], dialogue: Array<[RegExp, string]>): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI_ENTRY, ...args].map((word) => `'${word}'`).join(' ');
  // A new pty has no size; prompts wrap at the terminal width, so give it one.
  const child = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${command}`, '/dev/null'], {
    env: { ...cliEnvironment(home, { LOGINKIT_STORE: 'file' }), COLUMNS: '100', LINES: '40' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  // The pty echoes in odd pieces: compare text without escape sequences and line breaks.
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString().replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\r\n]/g, '')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const [prompt, answer] of dialogue) {
    const started = Date.now();
    while (!prompt.test(output)) {
      if (Date.now() - started > 15_000) {
        child.kill('SIGKILL');
        throw new Error(`no prompt ${prompt} in:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.stdin.write(answer);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, output };
}

test('login without a provider on a terminal: a searchable picker, then a hidden key prompt', async () => {
  const home = await makeHome();
  const key = `gsk_${'k'.repeat(52)}`;
  const { code, output } = await inTerminal(home, ['login', '--no-verify'], [
    [/Sign in to which provider/, 'groq'],
    [/Groq/, '\r'],
    [/Groq API key \(input hidden\)/, `${key}\r`],
  ]);
  assert.equal(code, 0, output);
  assert.ok(!output.includes(key), 'the key is not echoed');
  assert.match(output, /Stored the Groq API key gsk_kk…kkkk/);
  const token = await runCli(['token', 'groq'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.stdout, `${key}\n`);
});

test('a provider with two methods asks which one on a terminal', async () => {
  const home = await makeHome();
  const key = `sk-proj-${'p'.repeat(40)}`;
  const { code, output } = await inTerminal(home, ['login', 'openai', '--no-verify'], [
    [/How do you want to sign in to OpenAI\?/, '\u001b[B'],
    [/Use an API key/, '\r'],
    [/OpenAI API key \(input hidden\)/, `${key}\r`],
  ]);
  assert.equal(code, 0, output);
  assert.match(output, /Sign in with ChatGPT/);
  const token = await runCli(['token', 'openai'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.stdout, `${key}\n`);
});
