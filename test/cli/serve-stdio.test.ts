// `loginkit serve --stdio` driven by a client in another language (Python's standard library,
// serve_stdio_client.py): a browser sign-in, a device sign-in, a cancelled one and an API key, against the
// real oidc-provider and the API-key stand-ins. Every message both ways is checked against the published
// JSON Schema (docs/serve-stdio.schema.json).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';

import { CLI_ENTRY, cliEnvironment, makeHome, runCli } from '../helpers/cli.js';
import { completeDeviceSignInOverHttp } from '../helpers/person.js';
import { type ProviderStandIns, startProviderStandIns } from '../helpers/provider-stand-ins.js';
import { useSignInServer } from '../helpers/sign-in.js';

const CLIENT = fileURLToPath(new URL('./serve_stdio_client.py', import.meta.url));
const SCHEMA = fileURLToPath(new URL('../../docs/serve-stdio.schema.json', import.meta.url));

/** Every line of the transcript that the published schema does not accept, with why. */
async function offSchema(transcript: string): Promise<string[]> {
  const schema = JSON.parse(await readFile(SCHEMA, 'utf8')) as object;
  const validate = new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(schema);
  const lines = (await readFile(transcript, 'utf8')).split('\n').filter(Boolean);
  assert.ok(lines.length > 4, 'the transcript holds the conversation');
  return lines.flatMap((line) => (validate(JSON.parse(line)) ? [] : [`${line}\n  ${JSON.stringify(validate.errors?.slice(0, 3))}`]));
}

/** Runs one scenario of the Python client; resolves with what it told the test, line by line. */
function runClient(scenario: string, home: string, env: Record<string, string>, onFact?: (fact: Record<string, unknown>) => void) {
  const transcript = join(home, 'transcript.jsonl');
  const child = execFile('python3', [CLIENT, scenario], {
    env: cliEnvironment(home, {
      LOGINKIT_STORE: 'file',
      LOGINKIT_NODE: process.execPath,
      LOGINKIT_CLI: CLI_ENTRY,
      SERVE_TRANSCRIPT: transcript,
      ...env,
    }),
    timeout: 60_000,
  });
  const facts: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const fact = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
      buffered = buffered.slice(end + 1);
      facts.push(fact);
      onFact?.(fact);
    }
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; stderr: string; facts: typeof facts; transcript: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr, facts, transcript })),
  );
  return exited;
}

describe('loginkit serve --stdio, from a Python client', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });

  test('browser sign-in: states until done, token when asked, logout revokes; every message fits the schema', async () => {
    const home = await fixture.home();
    const browser = fixture.browser();
    let token = '';
    const run = await runClient('browser', home, { BROWSER: browser.command }, (fact) => {
      if (typeof fact.token === 'string') token = fact.token;
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.facts.at(-1), { ok: true });
    assert.equal(fixture.server.stats.authorizationCodeGrants >= 1, true);
    assert.equal(fixture.server.stats.revocations >= 1, true, 'logout revoked at the server');
    const transcript = await readFile(run.transcript, 'utf8');
    const notifications = transcript.split('\n').filter((line) => line.includes('"login/state"'));
    assert.ok(notifications.length >= 3, 'a notification for every state');
    assert.ok(!notifications.some((line) => line.includes(token)), 'no notification carries the token');
    assert.deepEqual(await offSchema(run.transcript), []);
  });

  test('device sign-in: the code goes out in a notification; the person enters it elsewhere', async () => {
    const home = await fixture.home();
    const entered: Array<Promise<string>> = [];
    const run = await runClient('device', home, {}, (fact) => {
      const device = fact.device as { verificationUri: string; userCode: string } | undefined;
      if (device) entered.push(completeDeviceSignInOverHttp(device.verificationUri, device.userCode));
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(entered.length, 1);
    assert.match(await (entered[0] as Promise<string>), /success/i);
    assert.deepEqual(await offSchema(run.transcript), []);
  });

  test('cancelled sign-in, and the error codes: not now, unknown sign-in, method, params, loginkit codes', async () => {
    const home = await fixture.home();
    // A browser that opens nothing: the person never signs in.
    const run = await runClient('cancelled', home, { BROWSER: 'true' });
    assert.equal(run.code, 0, run.stderr);
    const off = await offSchema(run.transcript);
    assert.deepEqual(
      off.map((line) => JSON.parse(line.split('\n')[0] as string) as { method: string }).map((request) => request.method),
      ['sign-in', 'login'],
      'the schema turns away exactly the two requests the client got wrong on purpose',
    );
  });
});

describe('loginkit serve --stdio with an API key, from a Python client', () => {
  let standIns: ProviderStandIns;
  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('a refused key fails with its code, retry, a good key is stored and given back only by `token`', async () => {
    const home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({ providers: { anthropic: { baseUrl: standIns.baseUrlFor('anthropic') } } }),
      {
        mode: 0o600,
      },
    );
    const run = await runClient('api_key', home, {
      SERVE_GOOD_KEY: standIns.goodKeyFor('anthropic'),
      SERVE_BAD_KEY: standIns.badKeyFor('anthropic'),
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await offSchema(run.transcript), []);
  });
});

test('the schema is one JSON Schema 2020-12 document, exported by the package, that strict Ajv compiles', async () => {
  assert.equal(
    realpathSync(createRequire(import.meta.url).resolve('loginkit/serve-stdio.schema.json')),
    realpathSync(SCHEMA),
    'the package exports it',
  );
  const schema = JSON.parse(await readFile(SCHEMA, 'utf8')) as { $schema: string };
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const validate = new Ajv2020({ strict: true, strictRequired: false }).compile(schema);
  assert.equal(
    validate({ jsonrpc: '2.0', id: 1, method: 'login/submitKey', params: { signIn: '1' } }),
    false,
    'a key submission needs the key',
  );
  assert.equal(
    validate({
      jsonrpc: '2.0',
      method: 'login/state',
      params: {
        signIn: '1',
        state: {
          step: 'api_key',
          provider: { id: 'x', displayName: 'X', methods: ['api_key'], policyNote: null, envVars: [] },
          key: 'sk-secret',
        },
      },
    }),
    false,
    'a state has no room for a key',
  );
});

test('`serve` answers until stdin ends, then exits 0; without --stdio it is a usage error', async () => {
  const home = await makeHome();
  const requests = ['{"jsonrpc":"2.0","id":1,"method":"providers"}', '{"jsonrpc":"2.0","method":"providers"}', ''].join('\n');
  const served = await runCli(['serve', '--stdio'], { home, input: requests, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(served.code, 0, served.stderr);
  const answers = served.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { id: number; result: { providers: unknown[] } });
  assert.equal(answers.length, 1, 'a notification (no id) gets no answer');
  assert.equal(answers[0]?.id, 1);
  assert.ok((answers[0]?.result.providers.length ?? 0) > 10, 'the built-in providers');
  const usage = await runCli(['serve'], { home, env: { LOGINKIT_STORE: 'file' } });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /loginkit serve --stdio/);
});
