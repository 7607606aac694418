import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';
import { startOpenAIStandIn } from './support.js';

const ENV = { LOGINKIT_STORE: 'file' };

async function openAiHome(issuer: string, clientId: string): Promise<string> {
  const home = await makeHome();
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { openai: { issuer, clientId } } }), { mode: 0o600 });
  return home;
}

test("loginkit login openai --device speaks OpenAI's own device-code protocol and ends signed in", async () => {
  const server = await startOpenAIStandIn({ interval: '1', pendingPolls: 1 });
  try {
    const home = await openAiHome(server.issuer, server.clientId);
    const login = await runCli(['login', 'openai', '--device'], { home, env: ENV, timeoutMs: 60_000 });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /ABCD-12345/);
    assert.match(login.stderr, new RegExp(`${server.issuer.replace(/[.:/]/g, '\\$&')}/codex/device`));
    assert.ok(server.requests.some((r) => r.path === '/api/accounts/deviceauth/usercode' && r.contentType.includes('json')));
    const token = await runCli(['token', 'openai'], { home, env: ENV });
    assert.equal(token.stdout, `${server.accessToken}\n`);
  } finally {
    await server.close();
  }
});

test('a workspace without device codes is told so, with the commands that work', async () => {
  const server = await startOpenAIStandIn({ disabled: true });
  try {
    const home = await openAiHome(server.issuer, server.clientId);
    const login = await runCli(['login', 'openai', '--device'], { home, env: ENV });
    assert.equal(login.code, 1);
    assert.match(login.stderr, /Device code sign-in is not enabled for this account or workspace/);
    assert.match(login.stderr, /--method browser|--paste/);
  } finally {
    await server.close();
  }
});
