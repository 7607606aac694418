// The README's "Google Cloud (google-cloud)" part: its config.json is valid as written, its `vertex` provider
// works as described (ADC), and the library calls it shows exist (sdk-clients.test.ts runs them with the SDKs).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { readDocs } from '../helpers/docs.js';
import { runCli } from '../helpers/cli.js';
import { type GoogleStandIn, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { adcFilePath, authorizedUser, makeUserHome, writeJsonFile } from './fixture.js';

async function readmeSection(): Promise<string> {
  const readme = await readDocs();
  const start = readme.indexOf('### Google Cloud (google-cloud)');
  assert.ok(
    start > readme.indexOf('## Google Cloud and Azure') &&
      readme.indexOf('## Google Cloud and Azure') > readme.indexOf('## AWS and Bedrock'),
  );
  const end = readme.indexOf('\n## ', start);
  return readme.slice(start, end);
}

function block(section: string, language: string): string {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(section);
  assert.ok(match, `a ${language} block`);
  return match[1] as string;
}

let google: GoogleStandIn;
before(async () => {
  google = await startGoogleStandIn();
});
after(() => google.close());

test("the README's config.json is valid as written, and its ADC provider signs `token` and `status` as shown", async () => {
  const section = await readmeSection();
  const { userHome, loginkitHome } = await makeUserHome();
  await writeFile(join(loginkitHome, 'config.json'), block(section, 'json'), { mode: 0o600 });
  await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-readme'));
  const kit = createLoginkit({ home: loginkitHome, env: { HOME: userHome }, store: 'memory' });
  for (const id of ['vertex', 'vertex-ci', 'vertex-sa', 'vertex-me']) {
    assert.deepEqual((await kit.provider(id)).methods, ['google-cloud'], id);
  }
  const env = { HOME: userHome, LOGINKIT_STORE: 'file' };
  for (const line of block(section, 'sh').split('\n')) {
    const args = line.split('#')[0]?.trim().split(/\s+/).slice(1) ?? [];
    if (args[0] !== 'token' && args[0] !== 'status') continue;
    const result = await runCli(args, { home: loginkitHome, env, timeoutMs: 20_000 });
    assert.equal(result.code, 0, `${line}: ${result.stderr}`);
  }
  const status = await runCli(['status', 'vertex'], { home: loginkitHome, env });
  assert.match(status.stdout, /project my-project, location us-east5/);
});

test('the library calls the README shows exist on the client', async () => {
  const calls = [...block(await readmeSection(), 'ts').matchAll(/kit\.(\w+)\('vertex'\)/g)].map((match) => match[1] as string);
  assert.deepEqual(calls, ['vertexGenAIOptions', 'anthropicVertexOptions', 'googleVertexOptions']);
  const kit = createLoginkit({ store: 'memory' }) as unknown as Record<string, unknown>;
  for (const name of [...calls, 'googleAuthClient']) assert.equal(typeof kit[name], 'function', name);
});
