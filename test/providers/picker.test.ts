import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';
import { inTerminal } from '../helpers/terminal.js';

const FILE_STORE = { LOGINKIT_STORE: 'file' };

test('login without a provider on a terminal: a searchable picker, then a hidden key prompt', async () => {
  const home = await makeHome();
  const key = `gsk_${'k'.repeat(52)}`;
  const { code, output } = await inTerminal(
    home,
    ['login', '--no-verify'],
    [
      [/Sign in to which provider/, 'groq'],
      [/Groq/, '\r'],
      [/Groq API key \(input hidden\)/, `${key}\r`],
    ],
    FILE_STORE,
  );
  assert.equal(code, 0, output);
  assert.ok(!output.includes(key), 'the key is not echoed');
  assert.match(output, /Stored the Groq API key gsk_kk…kkkk/);
  const token = await runCli(['token', 'groq'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.stdout, `${key}\n`);
});

test('a provider with two methods asks which one on a terminal', async () => {
  const home = await makeHome();
  const key = `sk-proj-${'p'.repeat(40)}`;
  const { code, output } = await inTerminal(
    home,
    ['login', 'openai', '--no-verify'],
    [
      [/How do you want to sign in to OpenAI\?/, '\u001b[B'],
      [/Use an API key/, '\r'],
      [/OpenAI API key \(input hidden\)/, `${key}\r`],
    ],
    FILE_STORE,
  );
  assert.equal(code, 0, output);
  assert.match(output, /Sign in with ChatGPT/);
  const token = await runCli(['token', 'openai'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(token.stdout, `${key}\n`);
});
