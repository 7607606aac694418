// The cloud credential endpoints the agent serves to brokered children, used by the clouds' own SDKs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { BedrockRuntimeClient, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { fromHttp } from '@aws-sdk/credential-providers';
import { AgentConnection, createLoginkit } from '../../src/index.js';
import { DEFAULT_ACCOUNT_ID, DEFAULT_ROLE_NAME, type AwsStandIns, startAwsStandIns } from '../helpers/aws-stand-ins.js';
import { makeHome, runCliProcess } from '../helpers/cli.js';
import { agentOn } from './support.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const INVOKE_BODY = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

let aws: AwsStandIns;
before(async () => {
  aws = await startAwsStandIns({ lifetimes: { pollIntervalSeconds: 1 } });
});
after(() => aws.close());

/** A person signed in to IAM Identity Center through loginkit (provider `bedrock`, file store). */
async function signedInAws(): Promise<{ home: string; env: Record<string, string> }> {
  const home = await makeHome();
  const userHome = await mkdtemp(join(tmpdir(), 'loginkit-aws-user-'));
  await mkdir(join(userHome, '.aws'), { mode: 0o700 });
  await writeFile(
    join(userHome, '.aws', 'config'),
    [
      '[profile bedrock]',
      'sso_session = corp',
      `sso_account_id = ${DEFAULT_ACCOUNT_ID}`,
      `sso_role_name = ${DEFAULT_ROLE_NAME}`,
      'region = us-west-2',
      '[sso-session corp]',
      `sso_start_url = ${aws.startUrl}`,
      'sso_region = us-east-1',
      '',
    ].join('\n'),
  );
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { bedrock: { type: 'aws', awsProfile: 'bedrock' } } }));
  const env = { HOME: userHome, ...aws.env, LOGINKIT_STORE: 'file', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const kit = createLoginkit({ home, env, onWarning: () => undefined });
  await kit.login('bedrock', {
    method: 'device',
    onEvent: (event) => {
      if (event.type === 'device_code') aws.approveDevice(event.userCode);
    },
  });
  return { home, env };
}

describe('cloud endpoints of the agent', () => {
  test("AWS: the SDK's own container provider gets role credentials from the agent and signs Bedrock calls; a forged token is refused", async () => {
    const { home, env } = await signedInAws();
    const agent = await agentOn(home, env);
    const connection = new AgentConnection({ kind: 'unix', path: agent.socket });
    try {
      const opened = await connection.request<{ child: string; variables: Record<string, string>; unset: string[] }>('broker.open', {
        providers: ['bedrock'],
      });
      const uri = opened.variables.AWS_CONTAINER_CREDENTIALS_FULL_URI as string;
      const token = opened.variables.AWS_CONTAINER_AUTHORIZATION_TOKEN as string;
      assert.match(uri, /^http:\/\/127\.0\.0\.1:\d+\/cloud\/aws\/bedrock$/);
      assert.equal(opened.variables.AWS_REGION, 'us-west-2');
      assert.ok(opened.unset.includes('AWS_PROFILE') && opened.unset.includes('AWS_SECRET_ACCESS_KEY'));
      const credentials = fromHttp({ awsContainerCredentialsFullUri: uri, awsContainerAuthorizationToken: token });
      const runtime = new BedrockRuntimeClient({ region: 'us-west-2', endpoint: aws.urls.bedrockRuntime, credentials });
      const invoked = await runtime.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body: INVOKE_BODY }));
      assert.equal(invoked.$metadata.httpStatusCode, 200);
      const forged = await fetch(uri, { headers: { authorization: `lk-agent-${'B'.repeat(43)}` } });
      assert.equal(forged.status, 401);
      await connection.request('broker.close', { child: opened.child });
      assert.equal((await fetch(uri, { headers: { authorization: token } })).status, 401, 'ended with its child');
    } finally {
      connection.close();
    }
  });

  test('AWS through exec --broker: the default credential chain finds the endpoint; the child holds no AWS secret', async () => {
    const { home, env } = await signedInAws();
    const agent = await agentOn(home, env);
    const script = [
      "const { BedrockRuntimeClient, InvokeModelCommand } = await import('@aws-sdk/client-bedrock-runtime');",
      `const runtime = new BedrockRuntimeClient({ endpoint: ${JSON.stringify(aws.urls.bedrockRuntime)} });`,
      `const out = await runtime.send(new InvokeModelCommand({ modelId: ${JSON.stringify(MODEL)}, contentType: 'application/json', body: ${JSON.stringify(INVOKE_BODY)} }));`,
      "const { readFileSync } = await import('node:fs');",
      "console.log(JSON.stringify({ status: out.$metadata.httpStatusCode, environ: readFileSync('/proc/self/environ', 'utf8') }));",
    ].join('\n');
    const run = await runCliProcess(['exec', '--broker', 'bedrock', '--', process.execPath, '--input-type=module', '-e', script], {
      home,
      env: { ...env, LOGINKIT_AGENT_SOCK: agent.socket, AWS_PROFILE: 'bedrock' },
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    assert.equal(run.code, 0, run.stderr);
    const { status, environ } = JSON.parse(run.stdout) as { status: number; environ: string };
    assert.equal(status, 200);
    assert.doesNotMatch(environ, /AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_PROFILE=|AWS_BEARER_TOKEN_BEDROCK/);
    const stored = await readFile(
      join(env.HOME as string, '.aws', 'sso', 'cache', `${createHash('sha1').update('corp').digest('hex')}.json`),
      'utf8',
    );
    const { accessToken } = JSON.parse(stored) as { accessToken: string };
    assert.ok(!environ.includes(accessToken));
  });
});
