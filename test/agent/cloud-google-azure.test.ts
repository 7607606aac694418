// Google Cloud's metadata server and Azure's App Service managed-identity endpoint, served by the agent to
// brokered children: the clouds' own SDKs (google-auth-library, @azure/identity) get the provider's tokens.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AgentConnection } from '../../src/index.js';
import { COGNITIVE_RESOURCE, type ManagedIdentityStandIn, startManagedIdentity } from '../helpers/azure-stand-ins.js';
import { makeHome, runCliProcess } from '../helpers/cli.js';
import { type GoogleStandIn, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { adcFilePath, authorizedUser, writeJsonFile, writeProvider } from '../google-cloud/fixture.js';
import { agentOn } from './support.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REFRESH_TOKEN = 'rt-agent-google-0123456789';
const FLAVOR = { 'metadata-flavor': 'Google' };

interface Opened {
  child: string;
  variables: Record<string, string>;
  unset: string[];
}

/** Opens a capability for `provider` on the agent's socket, as `exec --broker` does. */
async function open(socket: string, provider: string): Promise<{ opened: Opened; connection: AgentConnection }> {
  const connection = new AgentConnection({ kind: 'unix', path: socket });
  return { opened: await connection.request<Opened>('broker.open', { providers: [provider] }), connection };
}

/** Whether a request reaches anything at all (a closed listener refuses the connection). */
async function statusOf(url: string, headers: Record<string, string>): Promise<number | 'refused'> {
  return fetch(url, { headers, signal: AbortSignal.timeout(5_000) }).then(
    (response) => response.status,
    () => 'refused' as const,
  );
}

describe('Google Cloud metadata server of the agent', () => {
  let google: GoogleStandIn;
  let home: string;
  let env: Record<string, string>;
  before(async () => {
    google = await startGoogleStandIn();
    const userHome = await mkdtemp(join(tmpdir(), 'loginkit-agent-gcloud-'));
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, REFRESH_TOKEN));
    home = await makeHome();
    await writeProvider(home, 'vertex', { project: 'my-project', location: 'us-east5' });
    env = { HOME: userHome, LOGINKIT_STORE: 'file' };
  });
  after(() => google.close());

  test("each child gets its own listener: tokens with Metadata-Flavor only, none without it, none once the child's capability ends", async () => {
    const agent = await agentOn(home, env);
    const { opened, connection } = await open(agent.socket, 'vertex');
    try {
      const host = opened.variables.GCE_METADATA_HOST as string;
      assert.match(host, /^127\.0\.0\.1:\d+$/);
      assert.equal(opened.variables.GOOGLE_CLOUD_PROJECT, 'my-project');
      assert.equal(opened.variables.GOOGLE_OAUTH_ACCESS_TOKEN, undefined);
      assert.ok(opened.unset.includes('GOOGLE_APPLICATION_CREDENTIALS'));
      const tokenUrl = `http://${host}/computeMetadata/v1/instance/service-accounts/default/token`;
      const answer = await fetch(tokenUrl, { headers: FLAVOR });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('metadata-flavor'), 'Google');
      const body = (await answer.json()) as { access_token: string; expires_in: number; token_type: string };
      assert.equal(body.token_type, 'Bearer');
      assert.ok(body.expires_in > 0);
      assert.equal(google.principalOf(body.access_token), 'person@example.com');
      assert.equal(await (await fetch(`http://${host}/computeMetadata/v1/project/project-id`, { headers: FLAVOR })).text(), 'my-project');
      assert.equal(await statusOf(tokenUrl, {}), 403, 'no Metadata-Flavor header (a browser cannot send one)');
      // The shared proxy's path for this cloud takes no capability: nothing is served there.
      const { proxy } = await connection.request<{ proxy: string }>('agent.status', {});
      assert.equal(await statusOf(`${proxy}/cloud/google-cloud/vertex`, FLAVOR), 401);
      await connection.request('broker.close', { child: opened.child });
      assert.equal(await statusOf(tokenUrl, FLAVOR), 'refused', 'the listener ended with its child');
    } finally {
      connection.close();
    }
  });

  test(
    "another user's process is refused by the child's listener (Linux; needs root to run as another uid)",
    {
      skip: process.getuid?.() !== 0 || !existsSync('/proc/net/tcp'),
    },
    async () => {
      const agent = await agentOn(home, env);
      const { opened, connection } = await open(agent.socket, 'vertex');
      try {
        const url = `http://${opened.variables.GCE_METADATA_HOST}/computeMetadata/v1/project/project-id`;
        const ask = `fetch(${JSON.stringify(url)}, { headers: { 'metadata-flavor': 'Google' } }).then((r) => console.log(r.status))`;
        // Asynchronously: the listener answering it runs in this process.
        // Another user cannot run a Node.js kept under /root (CI's Node.js 24): the system's one serves both users.
        const node = existsSync('/usr/bin/node') ? '/usr/bin/node' : process.execPath;
        const asUser = async (uid: number): Promise<string> =>
          (await promisify(execFile)(node, ['-e', ask], { uid, gid: uid, cwd: '/', timeout: 10_000 })).stdout.trim();
        assert.equal(await asUser(0), '200');
        assert.equal(await asUser(65534), '403');
      } finally {
        connection.close();
      }
    },
  );

  test("through exec --broker: google-auth-library's GoogleAuth finds the metadata server; the child holds no refresh token", async () => {
    const agent = await agentOn(home, env);
    const script = [
      "const { GoogleAuth } = await import('google-auth-library');",
      "const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });",
      'const token = await auth.getAccessToken();',
      'const project = await auth.getProjectId();',
      "const { readFileSync } = await import('node:fs');",
      "console.log(JSON.stringify({ token, project, host: process.env.GCE_METADATA_HOST, environ: readFileSync('/proc/self/environ', 'utf8') }));",
    ].join('\n');
    const grants = google.stats.refreshGrants;
    const run = await runCliProcess(['exec', '--broker', 'vertex', '--', process.execPath, '--input-type=module', '-e', script], {
      home,
      // The child's own home has no gcloud file; the variable pointing at the agent's is taken out.
      env: { HOME: await makeHome(), LOGINKIT_AGENT_SOCK: agent.socket, GOOGLE_APPLICATION_CREDENTIALS: adcFilePath(env.HOME as string) },
      cwd: HERE,
    });
    assert.equal(run.code, 0, run.stderr);
    const { token, project, host, environ } = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(google.principalOf(token as string), 'person@example.com');
    assert.equal(project, 'my-project');
    assert.equal(google.stats.refreshGrants, grants, "no refresh of the child's own: the agent's stored token served it");
    assert.ok(!environ?.includes(REFRESH_TOKEN));
    assert.doesNotMatch(environ as string, /GOOGLE_APPLICATION_CREDENTIALS|GOOGLE_OAUTH_ACCESS_TOKEN|client_secret/);
    assert.equal(
      await statusOf(`http://${host}/computeMetadata/v1/instance/service-accounts/default/token`, FLAVOR),
      'refused',
      'the listener ended when the child exited',
    );
  });
});

describe("Azure's managed-identity endpoint of the agent", () => {
  let mi: ManagedIdentityStandIn;
  let home: string;
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  before(async () => {
    mi = await startManagedIdentity();
    // The agent (in this process) gets its own tokens from a managed identity: MSAL reads these from process.env.
    process.env.IDENTITY_ENDPOINT = mi.identityEndpoint;
    process.env.IDENTITY_HEADER = mi.identityHeader;
    home = await makeHome();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { azure: { type: 'azure' } } }), { mode: 0o600 });
  });
  after(async () => {
    for (const [name, value] of [
      ['IDENTITY_ENDPOINT', saved.endpoint],
      ['IDENTITY_HEADER', saved.header],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await mi.close();
  });
  const agentEnv = (): Record<string, string> => ({
    LOGINKIT_STORE: 'file',
    IDENTITY_ENDPOINT: mi.identityEndpoint,
    IDENTITY_HEADER: mi.identityHeader,
  });

  test("App Service protocol: a token for the resource with the child's X-IDENTITY-HEADER; a forged or ended one is refused", async () => {
    const agent = await agentOn(home, agentEnv());
    const { opened, connection } = await open(agent.socket, 'azure');
    try {
      const endpoint = opened.variables.IDENTITY_ENDPOINT as string;
      const header = opened.variables.IDENTITY_HEADER as string;
      assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+\/cloud\/azure\/azure$/);
      assert.notEqual(header, mi.identityHeader);
      assert.ok(opened.unset.includes('AZURE_CLIENT_SECRET') && opened.unset.includes('MSI_ENDPOINT'));
      const url = `${endpoint}?resource=${encodeURIComponent(COGNITIVE_RESOURCE)}&api-version=2019-08-01`;
      const answer = await fetch(url, { headers: { 'x-identity-header': header } });
      assert.equal(answer.status, 200);
      const body = (await answer.json()) as Record<string, unknown>;
      assert.equal(mi.issued.get(body.access_token as string), 'app-service');
      assert.equal(body.resource, COGNITIVE_RESOURCE);
      assert.equal(body.token_type, 'Bearer');
      assert.match(body.expires_on as string, /^\d{10}$/);
      assert.equal(await statusOf(url, { 'x-identity-header': `lk-agent-${'B'.repeat(43)}` }), 401, 'forged');
      assert.equal(await statusOf(url, {}), 401, 'absent');
      assert.equal(await statusOf(url, { 'x-identity-header': mi.identityHeader }), 401, "the agent's own identity header");
      await connection.request('broker.close', { child: opened.child });
      assert.equal(await statusOf(url, { 'x-identity-header': header }), 401, 'ended with its child');
    } finally {
      connection.close();
    }
  });

  test("through exec --broker: @azure/identity's DefaultAzureCredential gets the token; the child holds no secret", async () => {
    const agent = await agentOn(home, agentEnv());
    const secret = 'sp-secret-never-in-the-child-0123456789';
    const script = [
      "const { DefaultAzureCredential } = await import('@azure/identity');",
      `const got = await new DefaultAzureCredential().getToken(${JSON.stringify(`${COGNITIVE_RESOURCE}/.default`)});`,
      "const { readFileSync } = await import('node:fs');",
      'console.log(JSON.stringify({ token: got.token, expires: got.expiresOnTimestamp, endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER, environ: readFileSync("/proc/self/environ", "utf8") }));',
    ].join('\n');
    const run = await runCliProcess(['exec', '--broker', 'azure', '--', process.execPath, '--input-type=module', '-e', script], {
      home,
      env: {
        LOGINKIT_AGENT_SOCK: agent.socket,
        AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000001',
        AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000002',
        AZURE_CLIENT_SECRET: secret,
        AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9',
      },
      cwd: HERE,
    });
    assert.equal(run.code, 0, run.stderr);
    const { token, expires, endpoint, header, environ } = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(mi.issued.get(token as string), 'app-service');
    assert.ok(Number(expires) > Date.now());
    assert.ok(!environ?.includes(secret), 'AZURE_CLIENT_SECRET is taken out');
    assert.ok(!environ?.includes(mi.identityHeader), "the agent's own managed identity stays with it");
    const url = `${endpoint}?resource=${encodeURIComponent(COGNITIVE_RESOURCE)}&api-version=2019-08-01`;
    assert.equal(await statusOf(url, { 'x-identity-header': header as string }), 401, 'the capability ended when the child exited');
  });
});
