// Each source of a Google Cloud provider end to end against the loopback stand-ins, with google-auth-library
// doing the refresh-token grant, STS and impersonation, and the stand-in verifying what it issued.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { type GoogleStandIn, makeServiceAccount, startGoogleStandIn } from '../helpers/google-stand-ins.js';
import { startHttpServer } from '../helpers/stand-in.js';
import { adcFilePath, authorizedUser, makeUserHome, serviceAccountKey, writeJsonFile, writeProvider } from './fixture.js';

// The stand-in checks JWT lifetimes on the real clock, so the tests' clock starts at the real time.
const T0 = Date.now();

describe('Google Cloud sources', () => {
  let google: GoogleStandIn;
  before(async () => {
    google = await startGoogleStandIn();
  });
  after(() => google.close());

  /** A client for `userHome` with a settable clock. */
  function kitFor(userHome: string, loginkitHome: string, env: Record<string, string> = {}) {
    const clock = { now: T0 };
    const kit = createLoginkit({
      home: loginkitHome,
      env: { HOME: userHome, ...env },
      store: 'memory',
      now: () => clock.now,
      onWarning: () => {},
    });
    return { kit, clock };
  }

  test('ADC (gcloud auth application-default login): its refresh token makes a token Vertex accepts, reused until due, renewed after', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-adc-1'));
    await writeProvider(loginkitHome, 'vertex', {});
    const { kit, clock } = kitFor(userHome, loginkitHome);
    const before = google.stats.refreshGrants;
    const first = await kit.getTokenInfo('vertex');
    assert.equal(google.principalOf(first.token), 'person@example.com');
    assert.equal(first.type, 'oauth');
    assert.equal(await kit.getToken('vertex'), first.token, 'reused while valid');
    assert.equal(google.stats.refreshGrants - before, 1);
    clock.now += 56 * 60_000;
    const renewed = await kit.getToken('vertex');
    assert.notEqual(renewed, first.token, 'renewed within five minutes of expiry');
    assert.equal(google.stats.refreshGrants - before, 2);
  });

  test('GOOGLE_APPLICATION_CREDENTIALS names the ADC file', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const path = join(userHome, 'elsewhere', 'adc.json');
    await writeJsonFile(path, authorizedUser(google, 'rt-adc-env'));
    await writeProvider(loginkitHome, 'vertex', {});
    const { kit } = kitFor(userHome, loginkitHome, { GOOGLE_APPLICATION_CREDENTIALS: path });
    const token = await kit.getToken('vertex');
    assert.equal(google.principalOf(token), 'person@example.com');
    assert.equal(google.seen.refreshTokensUsed.at(-1), 'rt-adc-env');
  });

  test('a service account key file: a JWT-bearer assertion the token endpoint verifies with the public key, with the configured scopes', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const account = makeServiceAccount('runner@sa-project-1.iam.gserviceaccount.com');
    const keyFile = join(userHome, 'keys', 'runner.json');
    await writeJsonFile(keyFile, serviceAccountKey(google, account));
    const scopes = ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/userinfo.email'];
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: keyFile, scopes });
    const { kit } = kitFor(userHome, loginkitHome);
    const token = await kit.getToken('vertex');
    assert.equal(google.principalOf(token), account.email);
    assert.equal(google.seen.jwtScopes.at(-1), scopes.join(' '));
    const [status] = await kit.status('vertex');
    assert.ok(status);
    assert.equal(status.google?.credentialType, 'service_account');
    assert.equal(status.account, account.email);
    assert.equal(status.google?.project, 'sa-project-1', "the key file's project when none is configured");
  });

  test('a key the token endpoint does not know (signed with another key) is a login-required error naming the fix', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const account = makeServiceAccount('rotated@sa-project-1.iam.gserviceaccount.com');
    const keyFile = join(userHome, 'keys', 'rotated.json');
    const key = serviceAccountKey(google, account);
    await writeJsonFile(keyFile, { ...key, private_key: makeServiceAccount('other@x').privateKeyPem });
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: keyFile });
    const { kit } = kitFor(userHome, loginkitHome);
    await assert.rejects(kit.getToken('vertex'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'login_required');
      assert.match(error.message, /refused the credential \(invalid_grant\)/);
      assert.match(error.message, /\nFix: point credentialsFile of "vertex" in config.json at a valid credential file\.$/);
      return true;
    });
  });

  test(
    'a credentials file that is a FIFO or a device is refused at once, naming it, without reading a byte',
    { timeout: 10_000 },
    async () => {
      const { userHome, loginkitHome } = await makeUserHome();
      const fifo = join(userHome, 'credentials.fifo');
      execFileSync('mkfifo', [fifo]);
      for (const credentialsFile of [fifo, '/dev/zero']) {
        await writeProvider(loginkitHome, 'vertex', { credentialsFile });
        const { kit } = kitFor(userHome, loginkitHome);
        await assert.rejects(kit.getToken('vertex'), (error: Error) => {
          assert.match(error.message, /not a regular file/);
          assert.ok(error.message.includes(credentialsFile));
          return true;
        });
      }
    },
  );

  test('workload identity federation: a subject token from a file, exchanged at STS, then the service account impersonated', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const subjectToken = `eyJ.github-oidc.${Date.now()}`;
    google.subjectTokens.add(subjectToken);
    const tokenFile = join(userHome, 'oidc', 'token');
    await writeJsonFile(tokenFile, 'unused');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(tokenFile, subjectToken, { mode: 0o600 });
    const config = join(userHome, 'wif.json');
    await writeJsonFile(config, {
      type: 'external_account',
      audience: google.audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: google.stsUrl,
      service_account_impersonation_url: `${google.iamEndpoint}/v1/projects/-/serviceAccounts/ci@proj.iam.gserviceaccount.com:generateAccessToken`,
      credential_source: { file: tokenFile },
    });
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: config, project: 'ci-project' });
    const { kit } = kitFor(userHome, loginkitHome);
    const [sts, iam] = [google.stats.stsExchanges, google.stats.generateAccessToken];
    const token = await kit.getToken('vertex');
    assert.equal(google.principalOf(token), 'ci@proj.iam.gserviceaccount.com');
    assert.equal(google.stats.stsExchanges - sts, 1);
    assert.equal(google.stats.generateAccessToken - iam, 1);
  });

  test('workload identity federation without impersonation: the federated token itself', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const subjectToken = `eyJ.k8s-sa.${Date.now()}`;
    google.subjectTokens.add(subjectToken);
    const tokenFile = join(userHome, 'oidc', 'k8s-token');
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(userHome, 'oidc'), { recursive: true, mode: 0o700 });
    await writeFile(tokenFile, subjectToken, { mode: 0o600 });
    const config = join(userHome, 'wif-direct.json');
    await writeJsonFile(config, {
      type: 'external_account',
      audience: google.audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: google.stsUrl,
      credential_source: { file: tokenFile },
    });
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: config });
    const token = await kitFor(userHome, loginkitHome).kit.getToken('vertex');
    assert.match(google.principalOf(token) ?? '', /^principal:\/\/federated\//);
  });

  test('workload identity federation with the subject token from a URL (GitHub Actions: a bearer header, a JSON answer)', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    const config = join(userHome, 'wif-url.json');
    await writeJsonFile(config, {
      type: 'external_account',
      audience: google.audience,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: google.stsUrl,
      credential_source: {
        url: `${google.url}/oidc-token?audience=${encodeURIComponent(google.audience)}`,
        headers: { Authorization: `Bearer ${google.oidcRequestToken}` },
        format: { type: 'json', subject_token_field_name: 'value' },
      },
    });
    await writeProvider(loginkitHome, 'vertex', { credentialsFile: config });
    const token = await kitFor(userHome, loginkitHome).kit.getToken('vertex');
    assert.match(google.principalOf(token) ?? '', /^principal:\/\/federated\//);
  });

  test('impersonation through a delegation chain: IAM Credentials is called with the source token, the delegates and the scopes', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-imp'));
    await writeProvider(loginkitHome, 'vertex', {
      impersonateServiceAccount: ['hop@proj.iam.gserviceaccount.com', 'vertex-user@proj.iam.gserviceaccount.com'],
      iamCredentialsEndpoint: google.iamEndpoint,
    });
    const token = await kitFor(userHome, loginkitHome).kit.getToken('vertex');
    assert.equal(google.principalOf(token), 'vertex-user@proj.iam.gserviceaccount.com');
    assert.deepEqual(google.seen.delegates.at(-1), ['projects/-/serviceAccounts/hop@proj.iam.gserviceaccount.com']);
  });

  test('impersonation refused (PERMISSION_DENIED): one error naming the role to grant', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-imp-denied'));
    google.forbiddenTargets.add('locked@proj.iam.gserviceaccount.com');
    await writeProvider(loginkitHome, 'vertex', {
      impersonateServiceAccount: 'locked@proj.iam.gserviceaccount.com',
      iamCredentialsEndpoint: google.iamEndpoint,
    });
    await assert.rejects(kitFor(userHome, loginkitHome).kit.getToken('vertex'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'provider_error');
      assert.equal(
        error.message,
        'Getting a Google access token for "vertex" failed: the server answered 403 PERMISSION_DENIED.\nThe account may not act as locked@proj.iam.gserviceaccount.com: grant it roles/iam.serviceAccountTokenCreator on that service account.',
      );
      return true;
    });
  });

  test('an impersonated_service_account ADC file (gcloud auth application-default login --impersonate-service-account)', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), {
      type: 'impersonated_service_account',
      service_account_impersonation_url: `${google.iamEndpoint}/v1/projects/-/serviceAccounts/deploy@proj.iam.gserviceaccount.com:generateAccessToken`,
      delegates: [],
      source_credentials: authorizedUser(google, 'rt-imp-file'),
    });
    await writeProvider(loginkitHome, 'vertex', {});
    const token = await kitFor(userHome, loginkitHome).kit.getToken('vertex');
    assert.equal(google.principalOf(token), 'deploy@proj.iam.gserviceaccount.com');
  });

  test(
    "a token endpoint that never answers: google-auth-library goes through loginkit's bounded fetch and fails in time, naming the host",
    { timeout: 10_000 },
    async () => {
      const silent = await startHttpServer(() => undefined);
      try {
        const { userHome, loginkitHome } = await makeUserHome();
        await writeJsonFile(adcFilePath(userHome), { ...authorizedUser(google, 'rt-silent'), token_uri: `${silent.url}/token` });
        await writeProvider(loginkitHome, 'vertex', {});
        const kit = createLoginkit({ home: loginkitHome, env: { HOME: userHome }, store: 'memory', timeoutMs: 300 });
        await assert.rejects(kit.getToken('vertex'), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'timeout', error.message);
          assert.ok(error.message.includes(`127.0.0.1:${silent.port}`), error.message);
          return true;
        });
      } finally {
        await silent.close();
      }
    },
  );

  test('Google unreachable while the token is due but still valid: the current token, with a warning', async () => {
    const passing = await startGoogleStandIn();
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(passing, 'rt-outage'));
    await writeProvider(loginkitHome, 'vertex', {});
    const warnings: string[] = [];
    const clock = { now: T0 };
    const kit = createLoginkit({
      home: loginkitHome,
      env: { HOME: userHome },
      store: 'memory',
      now: () => clock.now,
      onWarning: (w) => warnings.push(w),
    });
    const first = await kit.getToken('vertex');
    await passing.close();
    clock.now += 57 * 60_000;
    assert.equal(await kit.getToken('vertex'), first);
    assert.match(warnings.join('\n'), /Using the current Google token for "vertex" \(valid until /);
    clock.now += 4 * 60_000;
    await assert.rejects(
      kit.getToken('vertex'),
      (error: Error & { code?: string }) => error.code === 'network',
      'an expired token is not handed out',
    );
  });

  test('twenty concurrent callers on an expired token share one renewal', async () => {
    const { userHome, loginkitHome } = await makeUserHome();
    await writeJsonFile(adcFilePath(userHome), authorizedUser(google, 'rt-concurrent'));
    await writeProvider(loginkitHome, 'vertex', {});
    const { kit, clock } = kitFor(userHome, loginkitHome);
    await kit.getToken('vertex');
    clock.now += 2 * 3600_000;
    const before = google.stats.refreshGrants;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => kit.getToken('vertex')));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(google.stats.refreshGrants - before, 1);
  });
});
