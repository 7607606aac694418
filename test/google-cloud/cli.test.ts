// The CLI on a Google Cloud provider, in process: token, exec, status, and reauthentication as exit 3.
import assert from 'node:assert/strict';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { type GoogleStandIn, makeServiceAccount, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { adcFilePath, authorizedUser, makeUserHome, serviceAccountKey, writeJsonFile, writeProvider } from './fixture.js';

describe('loginkit on a Google Cloud provider', () => {
  let google: GoogleStandIn;
  before(async () => {
    google = await startGoogleStandIn();
  });
  after(() => google.close());

  async function adcHome(refreshToken: string, state: 'valid' | 'invalid_rapt' | 'invalid_grant' = 'valid') {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, refreshToken, state));
    await writeProvider(loginkitHome, 'vertex', { location: 'us-east5' });
    const run = (args: string[]) =>
      runCli(args, { home: loginkitHome, env: { HOME: userHome, LOGINKIT_STORE: 'file' }, timeoutMs: 20_000 });
    return { userHome, loginkitHome, run };
  }

  test('token prints an access token Vertex accepts; the next run reuses it from the store', async () => {
    const { run } = await adcHome('rt-cli-token');
    const first = await run(['token', 'vertex']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(google.principalOf(first.stdout.trim()), 'person@example.com');
    const before = google.stats.refreshGrants;
    const second = await run(['token', 'vertex']);
    assert.equal(second.stdout, first.stdout);
    assert.equal(google.stats.refreshGrants, before);
  });

  for (const [state, reason] of [
    ['invalid_rapt', /^error: Google asks you to sign in again \(reauthentication, invalid_rapt\) for "vertex"\.$/],
    ['invalid_grant', /^error: Google refused the credential \(invalid_grant\) for "vertex"\.$/],
  ] as const) {
    test(`${state} from the token endpoint: exit 3, what happened and the gcloud command, no stack trace, no secret`, async () => {
      const { run } = await adcHome(`rt-cli-${state}`, state);
      const result = await run(['token', 'vertex']);
      assert.equal(result.code, 3, result.stderr);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 2, result.stderr);
      assert.match(lines[0] as string, reason);
      assert.equal(lines[1], 'Run: gcloud auth application-default login');
      assert.ok(
        !result.stderr.includes(`rt-cli-${state}`) && !result.stderr.includes('d-FL95Q19q7MQmFpd7hHD0Ty'),
        'no refresh token or client secret',
      );
    });
  }

  test("gcloud's new sign-in is adopted: after a reauthentication error, the rewritten ADC file works with no loginkit command", async () => {
    const { userHome, run } = await adcHome('rt-cli-old', 'invalid_rapt');
    assert.equal((await run(['token', 'vertex'])).code, 3);
    // What `gcloud auth application-default login` does: a new file with a new refresh token.
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-cli-new'));
    const after = await run(['token', 'vertex']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(google.principalOf(after.stdout.trim()), 'person@example.com');
    assert.equal(google.seen.refreshTokensUsed.at(-1), 'rt-cli-new');
  });

  test('a replaced ADC file wins over a still-valid token made from the old one (another account may have signed in)', async () => {
    const { userHome, run } = await adcHome('rt-cli-first');
    const first = await run(['token', 'vertex']);
    assert.equal(first.code, 0, first.stderr);
    const replaced = authorizedUser(google, 'rt-cli-second', 'valid', 'other@example.com');
    await writeJsonFile(adcFilePath(userHome), replaced);
    const second = await run(['token', 'vertex']);
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(second.stdout, first.stdout);
    assert.equal(google.principalOf(second.stdout.trim()), 'other@example.com');
  });

  test('exec: the child gets a short-lived access token, the project and the location, never the refresh token', async () => {
    const { userHome, run } = await adcHome('rt-cli-exec');
    const out = join(userHome, 'child-env.json');
    const result = await run([
      'exec',
      'vertex',
      '--',
      process.execPath,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env))`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const env = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
    assert.equal(google.principalOf(env.GOOGLE_OAUTH_ACCESS_TOKEN ?? ''), 'person@example.com');
    assert.equal(env.GOOGLE_CLOUD_PROJECT, 'quota-project-1', "the ADC file's quota project when none is configured");
    assert.equal(env.GOOGLE_CLOUD_LOCATION, 'us-east5');
    assert.deepEqual(
      [env.GOOGLE_VERTEX_PROJECT, env.ANTHROPIC_VERTEX_PROJECT_ID, env.GOOGLE_VERTEX_LOCATION, env.CLOUD_ML_REGION],
      ['quota-project-1', 'quota-project-1', 'us-east5', 'us-east5'],
    );
    assert.ok(!JSON.stringify(env).includes('rt-cli-exec'), 'no refresh token in the child environment');
  });

  test('status and status --json show the source, project and a masked token: no token, key or refresh token', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const account = makeServiceAccount('status@sa-project-1.iam.gserviceaccount.com');
    const keyFile = join(userHome, 'keys', 'status.json');
    await writeJsonFile(keyFile, serviceAccountKey(google, account));
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: keyFile });
    const run = (args: string[]) =>
      runCli(args, { home: loginkitHome, env: { HOME: userHome, LOGINKIT_STORE: 'file' }, timeoutMs: 20_000 });
    const token = (await run(['token', 'vertex'])).stdout.trim();
    assert.ok(google.principalOf(token));
    const text = await run(['status', 'vertex']);
    const json = await run(['status', 'vertex', '--json']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^vertex: Google Cloud as status@sa-project-1\.iam\.gserviceaccount\.com$/m);
    assert.match(text.stdout, new RegExp(`source: ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(service_account\\)`));
    assert.match(text.stdout, /project sa-project-1, location global/);
    for (const output of [text.stdout + text.stderr, json.stdout + json.stderr]) {
      assert.ok(!output.includes(token), 'no access token');
      assert.ok(!output.includes('PRIVATE KEY') && !output.includes(account.privateKeyPem.slice(40, 80)), 'no private key');
    }
  });

  test('no ADC file yet: exit 3 naming gcloud auth application-default login', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeProvider(loginkitHome, 'vertex', {});
    const result = await runCli(['token', 'vertex'], { home: loginkitHome, env: { HOME: userHome, LOGINKIT_STORE: 'file' } });
    assert.equal(result.code, 3);
    assert.equal(result.stderr.trim().split('\n').at(-1), 'Run: gcloud auth application-default login');
  });

  test('login checks a file source at once and prints no secret; logout leaves the ADC file alone', async () => {
    const { userHome, run } = await adcHome('rt-cli-login');
    const login = await run(['login', 'vertex']);
    assert.equal(login.code, 0, login.stderr);
    const logout = await run(['logout', 'vertex']);
    assert.equal(logout.code, 0, logout.stderr);
    for (const output of [login.stdout + login.stderr, logout.stdout + logout.stderr]) {
      assert.ok(!output.includes('rt-cli-login') && !output.includes('ya29.'), output);
    }
    assert.match(await readFile(adcFilePath(userHome), 'utf8'), /rt-cli-login/);
  });

  test('a credential file others can change, or of an unknown type, is refused without echoing its contents', async () => {
    const { userHome, run } = await adcHome('rt-cli-hostile');
    await chmod(adcFilePath(userHome), 0o666);
    const writable = await run(['token', 'vertex']);
    assert.equal(writable.code, 1);
    assert.match(writable.stderr, /can be changed by other users/);
    await writeJsonFile(adcFilePath(userHome), { type: 'gdch_service_account', private_key: 'SECRET-KEY-MATERIAL' });
    const unknown = await run(['token', 'vertex']);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /type "gdch_service_account"; expected authorized_user, service_account, external_account or impersonated_service_account/,
    );
    assert.ok(!unknown.stderr.includes('SECRET-KEY-MATERIAL'));
  });

  test('providers names it a Google Cloud identity', async () => {
    const { run } = await adcHome('rt-cli-providers');
    const result = await run(['providers']);
    assert.match(result.stdout, /^vertex +vertex: Google Cloud identity \[custom\]$/m);
  });

  test('status strips control characters from what a credential file says (account, project)', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const keyFile = join(userHome, 'keys', 'odd.json');
    const key = serviceAccountKey(google, makeServiceAccount('odd@x.iam.gserviceaccount.com'));
    await writeJsonFile(keyFile, { ...key, client_email: 'odd\u001b]0;pwned\u0007@x.iam.gserviceaccount.com', project_id: 'p\u001b[2J' });
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: keyFile });
    const result = await runCli(['status', 'vertex'], { home: loginkitHome, env: { HOME: userHome, LOGINKIT_STORE: 'file' } });
    assert.ok(!/[\u0000-\u001f]/.test(result.stdout.replaceAll('\n', '')), JSON.stringify(result.stdout));
    assert.match(result.stdout, /as odd ]0;pwned @x\.iam\.gserviceaccount\.com/);
  });
});
