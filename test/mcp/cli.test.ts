// `loginkit mcp …` in-process: the contract's exit codes and refusals that need no server.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { runCli } from '../../src/cli/main.js';

async function run(argv: string[], input = '') {
  const home = await mkdtemp(join(tmpdir(), 'loginkit-mcp-cli-'));
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += String(chunk)));
  stderr.on('data', (chunk) => (err += String(chunk)));
  try {
    const code = await runCli(argv, { stdin, stdout, stderr, env: { LOGINKIT_HOME: home, LOGINKIT_STORE: 'file' } });
    return { code, out, err };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

test('mcp status and token for a server never signed in to exit 3 and name the command', async () => {
  const status = await run(['mcp', 'status', 'https://mcp.example.com/mcp']);
  assert.equal(status.code, 3);
  assert.match(status.err, /Run: loginkit mcp login https:\/\/mcp\.example\.com\/mcp/);
  const token = await run(['mcp', 'token', 'https://mcp.example.com/mcp']);
  assert.equal(token.code, 3);
  assert.equal(token.out, '');
  const all = await run(['mcp', 'status', '--json']);
  assert.equal(all.code, 0);
  assert.deepEqual(JSON.parse(all.out), { schemaVersion: 1, servers: [] });
});

test('mcp login refuses a secret on the command line without echoing it', async () => {
  const result = await run(['mcp', 'login', 'https://mcp.example.com/mcp', 's3cret-value']);
  assert.equal(result.code, 2);
  assert.doesNotMatch(result.err + result.out, /s3cret-value/);
  assert.match(result.err, /--with-client-secret/);
});

test('mcp login checks its flags before any request', async () => {
  assert.equal((await run(['mcp', 'login', 'https://mcp.example.com/mcp', '--with-client-secret'], 'x')).code, 2);
  assert.equal((await run(['mcp', 'login', 'https://mcp.example.com/mcp', '--client-credentials', '--client-id', 'a'])).code, 2);
  const plainHttp = await run(['mcp', 'check', 'http://mcp.example.com/mcp']);
  assert.equal(plainHttp.code, 2);
  assert.match(plainHttp.err, /must use https/);
});
