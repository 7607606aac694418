// AWS providers end to end: IAM Identity Center sign-in (device code and browser with PKCE), role
// credentials and their refresh, the AWS CLI's token cache shared both ways, the formats handed to AWS
// tools, and an ended session. The AWS services are loopback stand-ins that check what AWS checks; the
// clients are the AWS SDK's own, as are the consumers (SigV4 verified by the stand-in).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import AnthropicBedrock from '@anthropic-ai/bedrock-sdk';
import { BedrockRuntimeClient, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { fromProcess, fromSSO } from '@aws-sdk/credential-providers';
import { createAmazonBedrock } from '@ai-sdk/amazon-bedrock';
import { generateText } from 'ai';
import { type LoginEvent, createLoginkit, isLoginRequired } from '../../src/index.js';
import {
  DEFAULT_ACCOUNT_ID,
  DEFAULT_CHAINED_ROLE_ARN,
  DEFAULT_ROLE_NAME,
  type AwsStandIns,
  startAwsStandIns,
} from '../helpers/aws-stand-ins.js';
import { CLI_ENTRY, makeHome, runCli, runCliProcess } from '../helpers/cli.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const INVOKE_BODY = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});
const SESSION = 'corp';

let aws: AwsStandIns;
let clock = Date.now();
const now = (): number => clock;

before(async () => {
  aws = await startAwsStandIns({ now, lifetimes: { pollIntervalSeconds: 1 } });
});
after(() => aws.close());
afterEach(() => {
  clock = Date.now();
});

interface AwsSetup {
  /** LOGINKIT_HOME. */
  home: string;
  /** The person's home folder, with ~/.aws in it. */
  userHome: string;
  env: Record<string, string>;
  cacheFile: string;
}

/** A person with `aws configure sso` done (profile `bedrock` on sso-session `corp`) and provider `bedrock` in config.json. */
async function setUp(): Promise<AwsSetup> {
  const home = await makeHome();
  const userHome = await mkdtemp(join(tmpdir(), 'loginkit-aws-user-'));
  await mkdir(join(userHome, '.aws'), { mode: 0o700 });
  await writeFile(
    join(userHome, '.aws', 'config'),
    [
      '[profile bedrock]',
      `sso_session = ${SESSION}`,
      `sso_account_id = ${DEFAULT_ACCOUNT_ID}`,
      `sso_role_name = ${DEFAULT_ROLE_NAME}`,
      'region = us-west-2',
      '',
      `[sso-session ${SESSION}]`,
      `sso_start_url = ${aws.startUrl}`,
      'sso_region = us-east-1',
      'sso_registration_scopes = sso:account:access',
      '',
    ].join('\n'),
  );
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { bedrock: { type: 'aws', awsProfile: 'bedrock' } } }));
  const cacheFile = join(userHome, '.aws', 'sso', 'cache', `${createHash('sha1').update(SESSION).digest('hex')}.json`);
  return { home, userHome, env: { HOME: userHome, ...aws.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, cacheFile };
}

function kitFor(setup: AwsSetup, events: LoginEvent[] = []) {
  return createLoginkit({
    home: setup.home,
    env: setup.env,
    store: 'file',
    now,
    onEvent: (event) => events.push(event),
    onWarning: () => undefined,
  });
}

/** Signs in with a device code, approving it as the person would on the verification page. */
async function signInWithDevice(setup: AwsSetup): Promise<LoginEvent[]> {
  const events: LoginEvent[] = [];
  const kit = kitFor(setup, events);
  const login = kit.login('bedrock', {
    method: 'device',
    onEvent: (event) => {
      if (event.type === 'device_code') aws.approveDevice(event.userCode);
    },
  });
  const result = await login;
  assert.equal(result.method, 'aws');
  return events;
}

function counts(): string {
  return JSON.stringify(aws.calls);
}

describe('AWS providers', () => {
  test('device sign-in: a client is registered, the code is shown, role credentials are made, and the AWS CLI cache gets the session', async () => {
    const setup = await setUp();
    const before = structuredClone(aws.calls);
    const events = await signInWithDevice(setup);
    const shown = events.find((event) => event.type === 'device_code');
    assert.ok(shown && shown.type === 'device_code' && shown.userCode.length > 0, 'the user code is shown');
    assert.equal(aws.calls.registerClient - before.registerClient, 1);
    assert.equal(aws.calls.startDeviceAuthorization - before.startDeviceAuthorization, 1);
    assert.equal(aws.calls.getRoleCredentials - before.getRoleCredentials, 1, counts());

    // The AWS CLI's cache: its fields, mode 0600, and nothing else in the folder.
    const cached = JSON.parse(await readFile(setup.cacheFile, 'utf8')) as Record<string, unknown>;
    for (const field of [
      'startUrl',
      'region',
      'accessToken',
      'expiresAt',
      'clientId',
      'clientSecret',
      'registrationExpiresAt',
      'refreshToken',
    ]) {
      assert.ok(typeof cached[field] === 'string', `cache file has ${field}`);
    }
    assert.equal(cached.startUrl, aws.startUrl);
    assert.match(String(cached.expiresAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal((await stat(setup.cacheFile)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(setup.userHome, '.aws', 'sso', 'cache')), [setup.cacheFile.split('/').at(-1)]);
  });

  test('browser sign-in: the authorize URL carries PKCE S256, state and the registered loopback redirect; the code is redeemed with the same redirect URI', async () => {
    const setup = await setUp();
    const before = structuredClone(aws.calls);
    let authorizeUrl: URL | undefined;
    const kit = createLoginkit({
      home: setup.home,
      env: setup.env,
      store: 'file',
      now,
      onWarning: () => undefined,
      // The person's browser: the stand-in's consent page approves and sends it to loginkit's listener.
      openBrowser: async (url) => {
        authorizeUrl = new URL(url);
        const consent = await fetch(url, { redirect: 'manual' });
        const location = consent.headers.get('location');
        assert.ok(location, `the authorize page redirects (${consent.status})`);
        await fetch(location);
      },
    });
    const result = await kit.login('bedrock', { method: 'browser' });
    assert.equal(result.method, 'aws');
    assert.ok(authorizeUrl);
    assert.equal(authorizeUrl.origin + authorizeUrl.pathname, `${aws.urls.ssoOidc}/authorize`);
    const params = authorizeUrl.searchParams;
    assert.equal(params.get('response_type'), 'code');
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(params.get('state') ?? '', /^[A-Za-z0-9_-]{40,}$/);
    assert.match(params.get('redirect_uri') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/oauth\/callback$/);
    assert.equal(params.get('scopes'), 'sso:account:access');
    assert.equal(aws.calls.createToken.authorizationCode - before.createToken.authorizationCode, 1);
    assert.equal(aws.rejections.filter((r) => r.service === 'sso-oidc').length, 0, JSON.stringify(aws.rejections));
  });

  test('what AWS tools get: a Bedrock API key, SigV4 through the SDK credential provider, AnthropicBedrock, credential_process JSON; fromSSO reads the cache loginkit wrote', async () => {
    const setup = await setUp();
    await signInWithDevice(setup);
    const kit = kitFor(setup);

    const apiKey = await kit.getToken('bedrock');
    assert.match(apiKey, /^bedrock-api-key-/);
    const bearer = await fetch(`${aws.urls.bedrockRuntime}/model/${MODEL}/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: INVOKE_BODY,
    });
    assert.equal(bearer.status, 200, await bearer.clone().text());

    // createFetch sends a cloud provider's token as Bearer, as for every provider.
    const viaFetch = await kit.createFetch('bedrock')(`${aws.urls.bedrockRuntime}/model/${MODEL}/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: INVOKE_BODY,
    });
    assert.equal(viaFetch.status, 200, await viaFetch.clone().text());
    assert.equal(aws.bedrockCalls.at(-1)?.auth, 'bearer');

    const runtime = new BedrockRuntimeClient({
      region: 'us-west-2',
      endpoint: aws.urls.bedrockRuntime,
      credentials: kit.awsCredentials('bedrock'),
    });
    const invoked = await runtime.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body: INVOKE_BODY }));
    assert.equal(invoked.$metadata.httpStatusCode, 200);
    const signed = aws.bedrockCalls.at(-1);
    assert.equal(signed?.auth, 'sigv4');
    assert.equal(signed?.region, 'us-west-2');

    const claude = new AnthropicBedrock(await kit.anthropicBedrockOptions('bedrock'));
    const message = await claude.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(message.role, 'assistant');

    const processJson = JSON.parse((await kit.awsToken('bedrock', 'credential-process')).token) as Record<string, unknown>;
    assert.equal(processJson.Version, 1);
    assert.equal(processJson.AccessKeyId, signed?.accessKeyId);
    assert.ok(Date.parse(String(processJson.Expiration)) > Date.now(), 'Expiration is in the future');

    // The AWS SDK's own SSO provider, on the cache file loginkit wrote.
    const saved = { HOME: process.env.HOME, SSO: process.env.AWS_ENDPOINT_URL_SSO, CONFIG: process.env.AWS_CONFIG_FILE };
    process.env.HOME = setup.userHome;
    process.env.AWS_ENDPOINT_URL_SSO = aws.urls.sso;
    delete process.env.AWS_CONFIG_FILE;
    try {
      const fromCache = await fromSSO({ profile: 'bedrock' })();
      assert.match(fromCache.accessKeyId, /.+/);
      assert.ok(fromCache.expiration && fromCache.expiration.getTime() > Date.now());
    } finally {
      for (const [name, value] of [
        ['HOME', saved.HOME],
        ['AWS_ENDPOINT_URL_SSO', saved.SSO],
        ['AWS_CONFIG_FILE', saved.CONFIG],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('an AWS CLI sign-in is used with no loginkit step: the cache file written by `aws sso login` is adopted', async () => {
    const setup = await setUp();
    const seeded = aws.seedSession();
    await mkdir(join(setup.userHome, '.aws', 'sso', 'cache'), { recursive: true, mode: 0o700 });
    await writeFile(
      setup.cacheFile,
      JSON.stringify({
        startUrl: aws.startUrl,
        region: 'us-east-1',
        accessToken: seeded.accessToken,
        expiresAt: new Date(seeded.accessTokenExpiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        clientId: seeded.clientId,
        clientSecret: seeded.clientSecret,
        registrationExpiresAt: new Date(seeded.clientSecretExpiresAt).toISOString(),
        refreshToken: seeded.refreshToken,
      }),
      { mode: 0o600 },
    );
    const kit = kitFor(setup);
    const [status] = await kit.status('bedrock');
    assert.equal(status?.loggedIn, true);
    assert.equal(status?.aws?.sessionFoundIn, 'aws-cli-cache');
    assert.match(await kit.getToken('bedrock'), /^bedrock-api-key-/);
  });

  test(
    'an AWS CLI cache that is a FIFO is passed over at once with a warning naming it, never waited on',
    { timeout: 10_000 },
    async () => {
      const setup = await setUp();
      await mkdir(join(setup.userHome, '.aws', 'sso', 'cache'), { recursive: true, mode: 0o700 });
      execFileSync('mkfifo', ['-m', '600', setup.cacheFile]);
      const warnings: string[] = [];
      const kit = createLoginkit({ home: setup.home, env: setup.env, store: 'file', now, onWarning: (message) => warnings.push(message) });
      const [status] = await kit.status('bedrock');
      assert.equal(status?.loggedIn, false);
      assert.ok(
        warnings.some((warning) => warning.includes(setup.cacheFile) && /not a regular file/.test(warning)),
        warnings.join('\n'),
      );
    },
  );

  test('role credentials are renewed before they expire, and the SSO session with its rotating refresh token, once for many callers; the cache file follows', async () => {
    const setup = await setUp();
    await signInWithDevice(setup);
    const kit = kitFor(setup);
    const first = await kit.awsToken('bedrock', 'credential-process');
    const before = structuredClone(aws.calls);

    clock += 58 * 60_000; // role credentials (1 h) are due; the SSO token (1 h) is too
    const tokens = await Promise.all(Array.from({ length: 8 }, () => kit.awsToken('bedrock', 'credential-process')));
    assert.equal(aws.calls.getRoleCredentials - before.getRoleCredentials, 1, counts());
    assert.equal(aws.calls.createToken.refreshToken - before.createToken.refreshToken, 1, counts());
    assert.equal(aws.calls.refreshTokenReuse, before.refreshTokenReuse, 'no refresh token redeemed twice');
    assert.equal(new Set(tokens.map((t) => t.credentials.accessKeyId)).size, 1);
    assert.notEqual(tokens[0]?.credentials.accessKeyId, first.credentials.accessKeyId);
    const cached = JSON.parse(await readFile(setup.cacheFile, 'utf8')) as { expiresAt: string };
    assert.ok(Date.parse(cached.expiresAt) > clock + 30 * 60_000, 'the refreshed session was written back for the AWS CLI');
  });

  test('an ended session: exit 3, one line naming `loginkit login`, nothing on stdout, no sign-in started', async () => {
    const setup = await setUp();
    // Signed in three hours ago: the SSO token and the role credentials have expired by now.
    clock = Date.now() - 3 * 3600_000;
    await signInWithDevice(setup);
    aws.expireSession();
    clock = Date.now();
    await assert.rejects(kitFor(setup).getToken('bedrock'), (error) => isLoginRequired(error));
    const before = structuredClone(aws.calls);
    const cli = await runCli(['token', 'bedrock', '--format', 'credential-process'], {
      home: setup.home,
      env: { ...setup.env, LOGINKIT_STORE: 'file' },
    });
    assert.equal(cli.code, 3, cli.stderr);
    assert.equal(cli.stdout, '');
    const lines = cli.stderr.trim().split('\n');
    assert.ok(lines.length <= 2, cli.stderr);
    assert.match(cli.stderr, /loginkit login bedrock/);
    assert.equal(aws.calls.startDeviceAuthorization, before.startDeviceAuthorization, 'no sign-in was started');
    assert.equal(aws.calls.registerClient, before.registerClient);
  });

  test('status, exec and logout: no secret in any output; exec hands the child credentials, the region and a Bedrock key, without AWS_PROFILE; logout signs out and removes both', async () => {
    const setup = await setUp();
    await signInWithDevice(setup);
    const kit = kitFor(setup);
    const { credentials, token } = await kit.awsToken('bedrock', 'bedrock-api-key');
    const cache = JSON.parse(await readFile(setup.cacheFile, 'utf8')) as {
      accessToken: string;
      refreshToken: string;
      clientSecret: string;
    };
    const secrets = [
      credentials.secretAccessKey,
      credentials.sessionToken,
      token,
      cache.accessToken,
      cache.refreshToken,
      cache.clientSecret,
    ];
    const env = { ...setup.env, LOGINKIT_STORE: 'file', AWS_PROFILE: 'someone-else' };

    const status = await runCli(['status', 'bedrock', '--json'], { home: setup.home, env });
    assert.equal(status.code, 0, status.stderr);
    const entry = (JSON.parse(status.stdout) as { providers: Array<Record<string, unknown>> }).providers[0] as Record<string, unknown>;
    assert.equal(entry.loggedIn, true);
    assert.ok(typeof entry.expiresAt === 'string' && Date.parse(entry.expiresAt) > Date.now());
    const human = await runCli(['status', 'bedrock'], { home: setup.home, env });
    assert.match(human.stdout, new RegExp(`account ${DEFAULT_ACCOUNT_ID}, role ${DEFAULT_ROLE_NAME}`));

    const script =
      'const e=process.env;process.stdout.write(JSON.stringify({id:e.AWS_ACCESS_KEY_ID,secret:!!e.AWS_SECRET_ACCESS_KEY,session:!!e.AWS_SESSION_TOKEN,region:e.AWS_REGION,bearer:(e.AWS_BEARER_TOKEN_BEDROCK||"").slice(0,16),profile:e.AWS_PROFILE??null}))';
    const exec = await runCliProcess(['exec', 'bedrock', '--', process.execPath, '-e', script], { home: setup.home, env });
    assert.equal(exec.code, 0, exec.stderr);
    assert.deepEqual(JSON.parse(exec.stdout), {
      id: credentials.accessKeyId,
      secret: true,
      session: true,
      region: 'us-west-2',
      bearer: 'bedrock-api-key-',
      profile: null,
    });

    const before = structuredClone(aws.calls);
    const logout = await runCli(['logout', 'bedrock'], { home: setup.home, env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(aws.calls.logout - before.logout, 1);
    await assert.rejects(stat(setup.cacheFile), { code: 'ENOENT' });
    const after = await runCli(['token', 'bedrock'], { home: setup.home, env });
    assert.equal(after.code, 3);

    for (const output of [status, human, logout, after]) {
      for (const secret of secrets) {
        assert.ok(!output.stdout.includes(secret) && !output.stderr.includes(secret), 'no secret in status, logout or error output');
      }
    }
  });

  test('logout --all ends an AWS sign-in too: the SSO session is signed out, its cache file and the role credentials removed', async () => {
    const setup = await setUp();
    await signInWithDevice(setup);
    const env = { ...setup.env, LOGINKIT_STORE: 'file' };
    const before = structuredClone(aws.calls);
    const all = await runCli(['logout', '--all'], { home: setup.home, env });
    assert.equal(all.code, 0, all.stderr);
    assert.equal(aws.calls.logout - before.logout, 1, 'the SSO session was signed out');
    await assert.rejects(stat(setup.cacheFile), { code: 'ENOENT' });
    assert.equal((await runCli(['token', 'bedrock'], { home: setup.home, env })).code, 3);
  });

  test('credential_process: the real AWS SDK runs `loginkit token --format credential-process` from AWS_CONFIG_FILE and signs Bedrock calls with it; the Node.js notice of the SDK is not in the output', async () => {
    const setup = await setUp();
    await signInWithDevice(setup);
    // The README's recipe: a profile beside the SSO one, in a config file of its own here.
    const configFile = join(setup.userHome, 'tool-config');
    await writeFile(
      configFile,
      `${await readFile(join(setup.userHome, '.aws', 'config'), 'utf8')}\n[profile claude-bedrock]\ncredential_process = ${process.execPath} ${CLI_ENTRY} token bedrock --format credential-process\nregion = us-west-2\n`,
    );
    const direct = await runCliProcess(['token', 'bedrock', '--format', 'credential-process'], {
      home: setup.home,
      env: {
        ...setup.env,
        LOGINKIT_STORE: 'file',
        AWS_CONFIG_FILE: configFile,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
      },
    });
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stderr, '', 'nothing on stderr, the AWS SDK notice included');
    assert.equal((JSON.parse(direct.stdout) as { Version: number }).Version, 1);

    const saved = { ...process.env };
    Object.assign(process.env, setup.env, { LOGINKIT_HOME: setup.home, LOGINKIT_STORE: 'file', AWS_CONFIG_FILE: configFile });
    try {
      const credentials = fromProcess({ profile: 'claude-bedrock' });
      const runtime = new BedrockRuntimeClient({ region: 'us-west-2', endpoint: aws.urls.bedrockRuntime, credentials });
      const invoked = await runtime.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body: INVOKE_BODY }));
      assert.equal(invoked.$metadata.httpStatusCode, 200);
      assert.equal(aws.bedrockCalls.at(-1)?.auth, 'sigv4');
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});

describe('AWS providers across processes', () => {
  test('16 racing `token --format credential-process` processes on an expired session: exactly one SSO refresh and one GetRoleCredentials per provider', async () => {
    const setup = await setUp();
    // A second provider on the same SSO session (another region): both need the session refreshed.
    await writeFile(
      join(setup.home, 'config.json'),
      JSON.stringify({
        providers: {
          bedrock: { type: 'aws', awsProfile: 'bedrock' },
          'bedrock-eu': { type: 'aws', awsProfile: 'bedrock', region: 'eu-central-1' },
        },
      }),
    );
    clock = Date.now() - 3 * 3600_000;
    await signInWithDevice(setup);
    clock = Date.now();
    const before = structuredClone(aws.calls);
    const env = { ...setup.env, LOGINKIT_STORE: 'file' };
    // A slow service keeps the first refresh going while the other processes start and queue for the lock.
    aws.latencyMs = 1_500;
    const runs = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        runCliProcess(['token', i % 2 === 0 ? 'bedrock' : 'bedrock-eu', '--format', 'credential-process'], { home: setup.home, env }),
      ),
    ).finally(() => {
      aws.latencyMs = 0;
    });
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const keys = (parity: number) =>
      new Set(runs.filter((_, i) => i % 2 === parity).map((run) => (JSON.parse(run.stdout) as { AccessKeyId: string }).AccessKeyId));
    assert.equal(keys(0).size, 1, 'every process of one provider got the same new credentials');
    assert.equal(keys(1).size, 1);
    assert.equal(aws.calls.createToken.refreshToken - before.createToken.refreshToken, 1, counts());
    assert.equal(aws.calls.getRoleCredentials - before.getRoleCredentials, 2, counts());
    assert.equal(aws.calls.refreshTokenReuse, before.refreshTokenReuse);
  });
});

describe('AWS providers configured other ways', () => {
  test("config.json's own fields without an AWS profile, a role chained with role_arn + source_profile, the AI SDK's Amazon Bedrock provider, and token --json", async () => {
    const setup = await setUp();
    await writeFile(
      join(setup.userHome, '.aws', 'config'),
      `${await readFile(join(setup.userHome, '.aws', 'config'), 'utf8')}\n[profile chained]\nrole_arn = ${DEFAULT_CHAINED_ROLE_ARN}\nsource_profile = bedrock\nregion = eu-west-1\n`,
    );
    await writeFile(
      join(setup.home, 'config.json'),
      JSON.stringify({
        providers: {
          direct: {
            type: 'aws',
            startUrl: aws.startUrl,
            ssoRegion: 'us-east-1',
            accountId: DEFAULT_ACCOUNT_ID,
            roleName: DEFAULT_ROLE_NAME,
            region: 'eu-central-1',
          },
          chained: { type: 'aws', awsProfile: 'chained' },
        },
      }),
    );
    const kit = kitFor(setup);
    await kit.login('direct', { method: 'device', onEvent: (event) => event.type === 'device_code' && aws.approveDevice(event.userCode) });
    // Without a session name, the provider id names the AWS CLI's cache file.
    await stat(join(setup.userHome, '.aws', 'sso', 'cache', `${createHash('sha1').update('direct').digest('hex')}.json`));
    const [direct] = await kit.status('direct');
    assert.equal(direct?.aws?.region, 'eu-central-1');

    const bedrock = createAmazonBedrock(await kit.amazonBedrockOptions('direct'));
    const answer = await generateText({ model: bedrock(MODEL), prompt: 'hi' });
    assert.equal(typeof answer.text, 'string');
    assert.equal(aws.bedrockCalls.at(-1)?.auth, 'sigv4');
    assert.equal(aws.bedrockCalls.at(-1)?.region, 'eu-central-1');

    const assumed = aws.calls.assumeRole;
    await kit.login('chained', { method: 'device', onEvent: (event) => event.type === 'device_code' && aws.approveDevice(event.userCode) });
    assert.equal(aws.calls.assumeRole - assumed, 1, 'the chained role was assumed with the IAM Identity Center role credentials');
    const [chained] = await kit.status('chained');
    assert.equal(chained?.aws?.roleArn, DEFAULT_CHAINED_ROLE_ARN);
    assert.equal(chained?.aws?.region, 'eu-west-1');
    const runtime = new BedrockRuntimeClient({
      region: 'eu-west-1',
      endpoint: aws.urls.bedrockRuntime,
      credentials: kit.awsCredentials('chained'),
    });
    await runtime.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body: INVOKE_BODY }));
    const { credentials } = await kit.awsToken('chained', 'credential-process');
    assert.equal(aws.bedrockCalls.at(-1)?.accessKeyId, credentials.accessKeyId);

    const json = await runCli(['token', 'chained', '--json'], { home: setup.home, env: { ...setup.env, LOGINKIT_STORE: 'file' } });
    assert.equal(json.code, 0, json.stderr);
    const document = JSON.parse(json.stdout) as Record<string, unknown> & { credentials: Record<string, unknown> };
    assert.match(String(document.token), /^bedrock-api-key-/);
    assert.equal(document.region, 'eu-west-1');
    assert.ok(Date.parse(String(document.expiresAt)) > Date.now());
    assert.deepEqual(Object.keys(document.credentials).sort(), ['accessKeyId', 'expiration', 'secretAccessKey', 'sessionToken']);
  });

  test('the docs show the recipes these tests run', async () => {
    const docs = (
      await Promise.all(
        ['README.md', 'docs/aws.md'].map((file) => readFile(new URL(`../../${file}`, import.meta.url), 'utf8').catch(() => '')),
      )
    ).join('\n');
    for (const line of [
      'credential_process = loginkit token bedrock --format credential-process',
      'export CLAUDE_CODE_USE_BEDROCK=1 AWS_PROFILE=claude-bedrock AWS_REGION=us-west-2',
      "const runtime = new BedrockRuntimeClient({ region: 'us-west-2', credentials: kit.awsCredentials('bedrock') });",
      "const claude = new AnthropicBedrock(await kit.anthropicBedrockOptions('bedrock'));",
      "const bedrock = createAmazonBedrock(await kit.amazonBedrockOptions('bedrock'));",
    ]) {
      assert.ok(docs.includes(line), `the docs lack: ${line}`);
    }
  });
});
