// The AWS stand-ins, driven by the real AWS SDK v3 clients and the Anthropic Bedrock SDK: each check a
// stand-in makes is seen both passing and refusing, with the SDK raising its own exception class.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, mock, test } from 'node:test';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import AnthropicBedrock from '@anthropic-ai/bedrock-sdk';
import { getToken } from '@aws/bedrock-token-generator';
import { BedrockRuntimeClient, ConverseCommand, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { GetRoleCredentialsCommand, LogoutCommand, SSOClient, UnauthorizedException } from '@aws-sdk/client-sso';
import {
  AuthorizationPendingException,
  CreateTokenCommand,
  ExpiredTokenException as OidcExpiredTokenException,
  InvalidClientException,
  InvalidGrantException,
  RegisterClientCommand,
  SlowDownException,
  SSOOIDCClient,
  StartDeviceAuthorizationCommand,
} from '@aws-sdk/client-sso-oidc';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';

import {
  DEFAULT_ACCOUNT_ID,
  DEFAULT_CHAINED_ROLE_ARN,
  DEFAULT_ROLE_NAME,
  type AwsStandIns,
  type IssuedAwsCredentials,
  startAwsStandIns,
} from '../helpers/aws-stand-ins.js';

const REGION = 'us-east-1';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const INVOKE_BODY = JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
});

let aws: AwsStandIns;
let clock = Date.now();

before(async () => {
  aws = await startAwsStandIns({ now: () => clock });
});
after(() => aws.close());

function oidc(): SSOOIDCClient {
  return new SSOOIDCClient({ region: REGION, endpoint: aws.urls.ssoOidc, maxAttempts: 1 });
}

function sso(): SSOClient {
  return new SSOClient({ region: REGION, endpoint: aws.urls.sso, maxAttempts: 1 });
}

function sdkCredentials(issued: IssuedAwsCredentials, secret = issued.secretAccessKey) {
  return {
    accessKeyId: issued.accessKeyId,
    secretAccessKey: secret,
    sessionToken: issued.sessionToken,
    expiration: new Date(issued.expiration),
  };
}

function bedrock(issued: IssuedAwsCredentials, secret?: string): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region: REGION,
    endpoint: aws.urls.bedrockRuntime,
    maxAttempts: 1,
    credentials: sdkCredentials(issued, secret),
  });
}

function invoke(): InvokeModelCommand {
  return new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', accept: 'application/json', body: INVOKE_BODY });
}

async function rejectsWithName(promise: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.equal(error.name, name);
    return true;
  });
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function registerDeviceClient(client: SSOOIDCClient): Promise<{ clientId: string; clientSecret: string }> {
  const registration = await client.send(
    new RegisterClientCommand({
      clientName: 'loginkit-test',
      clientType: 'public',
      scopes: ['sso:account:access'],
      grantTypes: [DEVICE_GRANT, 'refresh_token'],
    }),
  );
  return { clientId: registration.clientId ?? '', clientSecret: registration.clientSecret ?? '' };
}

describe('IAM Identity Center OIDC', () => {
  test('device authorization: pending, slow_down, then tokens once the person approves; the device code is single-use', async () => {
    const client = oidc();
    const registration = await registerDeviceClient(client);
    const start = await client.send(new StartDeviceAuthorizationCommand({ ...registration, startUrl: aws.startUrl }));
    assert.match(start.userCode ?? '', /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(start.verificationUriComplete, `${aws.urls.ssoOidc}/device?user_code=${start.userCode}`);
    const poll = () => client.send(new CreateTokenCommand({ ...registration, grantType: DEVICE_GRANT, deviceCode: start.deviceCode }));

    await assert.rejects(poll(), AuthorizationPendingException);
    await assert.rejects(poll(), SlowDownException, 'a poll within the interval is told to slow down');
    clock += 1000;
    await assert.rejects(poll(), AuthorizationPendingException);
    assert.deepEqual(aws.pendingUserCodes(), [start.userCode]);

    aws.approveDevice(start.userCode ?? '');
    clock += 1000;
    const tokens = await poll();
    assert.equal(tokens.tokenType, 'Bearer');
    assert.equal(tokens.expiresIn, aws.lifetimes.accessTokenSeconds);
    assert.ok(tokens.accessToken && tokens.refreshToken);
    assert.ok(aws.isAccessTokenActive(tokens.accessToken));
    clock += 1000;
    await assert.rejects(poll(), InvalidGrantException, 'a used device code is refused');
    assert.equal(aws.calls.createToken.deviceCode, 5);
  });

  test('a device code expires, and a denied one answers access_denied', async () => {
    const client = oidc();
    const registration = await registerDeviceClient(client);
    const first = await client.send(new StartDeviceAuthorizationCommand({ ...registration, startUrl: aws.startUrl }));
    const second = await client.send(new StartDeviceAuthorizationCommand({ ...registration, startUrl: aws.startUrl }));
    aws.denyDevice(second.userCode ?? '');
    await rejectsWithName(
      client.send(new CreateTokenCommand({ ...registration, grantType: DEVICE_GRANT, deviceCode: second.deviceCode })),
      'AccessDeniedException',
    );
    clock += aws.lifetimes.deviceCodeSeconds * 1000;
    await assert.rejects(
      client.send(new CreateTokenCommand({ ...registration, grantType: DEVICE_GRANT, deviceCode: first.deviceCode })),
      OidcExpiredTokenException,
    );
  });

  test('a wrong client secret or start URL is refused', async () => {
    const client = oidc();
    const registration = await registerDeviceClient(client);
    const wrongSecret = { ...registration, clientSecret: `${registration.clientSecret}x` };
    await assert.rejects(
      client.send(new StartDeviceAuthorizationCommand({ ...wrongSecret, startUrl: aws.startUrl })),
      InvalidClientException,
    );
    await rejectsWithName(
      client.send(new StartDeviceAuthorizationCommand({ ...registration, startUrl: 'https://other.awsapps.com/start' })),
      'InvalidRequestException',
    );
  });

  test('refresh tokens rotate: the used one is refused and counted as a reuse', async () => {
    const client = oidc();
    const seeded = aws.seedSession();
    const { clientId, clientSecret } = seeded;
    const refresh = (refreshToken: string | undefined) =>
      client.send(new CreateTokenCommand({ clientId, clientSecret, grantType: 'refresh_token', refreshToken }));

    const rotated = await refresh(seeded.refreshToken);
    assert.ok(rotated.refreshToken && rotated.refreshToken !== seeded.refreshToken);
    const reuseBefore = aws.calls.refreshTokenReuse;
    await assert.rejects(refresh(seeded.refreshToken), InvalidGrantException);
    assert.equal(aws.calls.refreshTokenReuse, reuseBefore + 1);
    const again = await refresh(rotated.refreshToken);
    assert.ok(again.accessToken);

    aws.revokeRefreshTokens();
    await assert.rejects(refresh(again.refreshToken), InvalidGrantException, 'an ended session refuses its refresh token');
  });

  test('a client registered without the refresh_token grant gets no refresh token', async () => {
    const seeded = aws.seedSession({ withRefreshToken: false });
    assert.equal(seeded.refreshToken, undefined);
  });

  test('authorization code with PKCE: registered loopback redirect (any port), S256 verifier, same redirect URI, single-use code', async () => {
    const client = oidc();
    const registration = await client.send(
      new RegisterClientCommand({
        clientName: 'loginkit-test',
        clientType: 'public',
        scopes: ['sso:account:access'],
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: ['http://127.0.0.1/oauth/callback'],
        issuerUrl: aws.startUrl,
      }),
    );
    const { clientId = '', clientSecret = '' } = registration;
    const redirectUri = 'http://127.0.0.1:55555/oauth/callback';
    const authorize = async (challenge: string, redirect = redirectUri): Promise<Response> => {
      const url = new URL('/authorize', aws.urls.ssoOidc);
      const query = {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirect,
        state: 'st-1',
        code_challenge_method: 'S256',
        code_challenge: challenge,
      };
      for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
      url.searchParams.set('scopes', 'sso:account:access');
      return fetch(url, { redirect: 'manual' });
    };
    const codeFrom = (response: Response): string => {
      assert.equal(response.status, 302);
      const location = new URL(response.headers.get('location') ?? '');
      assert.equal(`${location.origin}${location.pathname}`, redirectUri);
      assert.equal(location.searchParams.get('state'), 'st-1');
      return location.searchParams.get('code') ?? '';
    };
    const exchange = (code: string, codeVerifier: string, redirect = redirectUri) =>
      client.send(
        new CreateTokenCommand({ clientId, clientSecret, grantType: 'authorization_code', code, codeVerifier, redirectUri: redirect }),
      );

    const unregistered = await authorize(pkce().challenge, 'http://127.0.0.1:55555/elsewhere');
    assert.equal(unregistered.status, 400, 'never redirects to an unregistered URI');
    assert.equal(unregistered.headers.get('location'), null);

    const wrongVerifier = pkce();
    await assert.rejects(exchange(codeFrom(await authorize(wrongVerifier.challenge)), pkce().verifier), InvalidGrantException);
    const wrongRedirect = pkce();
    await assert.rejects(
      exchange(codeFrom(await authorize(wrongRedirect.challenge)), wrongRedirect.verifier, 'http://127.0.0.1:55556/oauth/callback'),
      InvalidGrantException,
    );

    const good = pkce();
    const code = codeFrom(await authorize(good.challenge));
    const tokens = await exchange(code, good.verifier);
    assert.ok(tokens.accessToken && tokens.refreshToken);
    await assert.rejects(exchange(code, good.verifier), InvalidGrantException, 'a code is single-use');

    aws.authorizeDecision = 'deny';
    const denied = await authorize(pkce().challenge);
    aws.authorizeDecision = 'allow';
    assert.equal(new URL(denied.headers.get('location') ?? '').searchParams.get('error'), 'access_denied');
  });
});

describe('IAM Identity Center portal', () => {
  test('GetRoleCredentials for an assigned role; unknown tokens and unassigned roles are refused', async () => {
    const portal = sso();
    const { accessToken } = aws.seedSession();
    const { roleCredentials } = await portal.send(
      new GetRoleCredentialsCommand({ accessToken, accountId: DEFAULT_ACCOUNT_ID, roleName: DEFAULT_ROLE_NAME }),
    );
    assert.match(roleCredentials?.accessKeyId ?? '', /^ASIA[A-Z2-7]{16}$/);
    assert.equal(roleCredentials?.expiration, Math.floor(clock / 1000) * 1000 + aws.lifetimes.roleCredentialsSeconds * 1000);

    await assert.rejects(
      portal.send(
        new GetRoleCredentialsCommand({ accessToken: 'aoa-unknown', accountId: DEFAULT_ACCOUNT_ID, roleName: DEFAULT_ROLE_NAME }),
      ),
      UnauthorizedException,
    );
    await rejectsWithName(
      portal.send(new GetRoleCredentialsCommand({ accessToken, accountId: DEFAULT_ACCOUNT_ID, roleName: 'Admin' })),
      'ForbiddenException',
    );
    const scoped = aws.seedSession({ scopes: ['codewhisperer:completions'] });
    await assert.rejects(
      portal.send(
        new GetRoleCredentialsCommand({ accessToken: scoped.accessToken, accountId: DEFAULT_ACCOUNT_ID, roleName: DEFAULT_ROLE_NAME }),
      ),
      UnauthorizedException,
      'a token without sso:account:access does not reach the portal',
    );
  });

  test('an access token stops working when it expires', async () => {
    const { accessToken } = aws.seedSession();
    clock += aws.lifetimes.accessTokenSeconds * 1000;
    await assert.rejects(
      sso().send(new GetRoleCredentialsCommand({ accessToken, accountId: DEFAULT_ACCOUNT_ID, roleName: DEFAULT_ROLE_NAME })),
      UnauthorizedException,
    );
  });

  test('Logout ends the session: access token and refresh token stop working', async () => {
    const portal = sso();
    const seeded = aws.seedSession();
    await portal.send(new LogoutCommand({ accessToken: seeded.accessToken }));
    assert.equal(aws.isAccessTokenActive(seeded.accessToken), false);
    await assert.rejects(
      portal.send(
        new GetRoleCredentialsCommand({ accessToken: seeded.accessToken, accountId: DEFAULT_ACCOUNT_ID, roleName: DEFAULT_ROLE_NAME }),
      ),
      UnauthorizedException,
    );
    await assert.rejects(
      oidc().send(
        new CreateTokenCommand({
          clientId: seeded.clientId,
          clientSecret: seeded.clientSecret,
          grantType: 'refresh_token',
          refreshToken: seeded.refreshToken,
        }),
      ),
      InvalidGrantException,
    );
  });
});

describe('STS', () => {
  test('AssumeRole signed with role credentials gives chained credentials; GetCallerIdentity names the caller', async () => {
    const issued = aws.issueRoleCredentials();
    const sts = new STSClient({ region: REGION, endpoint: aws.urls.sts, maxAttempts: 1, credentials: sdkCredentials(issued) });
    const identity = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Account, DEFAULT_ACCOUNT_ID);
    assert.match(identity.Arn ?? '', new RegExp(`assumed-role/AWSReservedSSO_${DEFAULT_ROLE_NAME}_`));

    const assumed = await sts.send(
      new AssumeRoleCommand({ RoleArn: DEFAULT_CHAINED_ROLE_ARN, RoleSessionName: 'loginkit', DurationSeconds: 900 }),
    );
    assert.match(assumed.Credentials?.AccessKeyId ?? '', /^ASIA/);
    assert.equal(assumed.Credentials?.Expiration?.getTime(), Math.floor(clock / 1000) * 1000 + 900_000);
    assert.equal(assumed.AssumedRoleUser?.Arn, `arn:aws:sts::${DEFAULT_ACCOUNT_ID}:assumed-role/loginkit-chained/loginkit`);

    const chained = new STSClient({
      region: REGION,
      endpoint: aws.urls.sts,
      maxAttempts: 1,
      credentials: {
        accessKeyId: assumed.Credentials?.AccessKeyId ?? '',
        secretAccessKey: assumed.Credentials?.SecretAccessKey ?? '',
        sessionToken: assumed.Credentials?.SessionToken ?? '',
      },
    });
    assert.equal((await chained.send(new GetCallerIdentityCommand({}))).Arn, assumed.AssumedRoleUser?.Arn);
  });

  test('a wrong secret, a role not trusted, too long a session and expired credentials are refused', async () => {
    const issued = aws.issueRoleCredentials();
    const client = (secret?: string) =>
      new STSClient({ region: REGION, endpoint: aws.urls.sts, maxAttempts: 1, credentials: sdkCredentials(issued, secret) });
    const assume = (roleArn = DEFAULT_CHAINED_ROLE_ARN, seconds?: number, secret?: string) =>
      client(secret).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'loginkit', DurationSeconds: seconds }));

    await rejectsWithName(assume(DEFAULT_CHAINED_ROLE_ARN, undefined, `${issued.secretAccessKey.slice(0, -1)}A`), 'SignatureDoesNotMatch');
    await rejectsWithName(assume(`arn:aws:iam::${DEFAULT_ACCOUNT_ID}:role/not-trusted`), 'AccessDenied');
    await rejectsWithName(assume(DEFAULT_CHAINED_ROLE_ARN, 7200), 'ValidationError');
    clock += aws.lifetimes.roleCredentialsSeconds * 1000;
    // STS names an expired caller token ExpiredToken (a common error), not the modelled ExpiredTokenException.
    await rejectsWithName(assume(), 'ExpiredToken');
  });
});

describe('Bedrock Runtime', () => {
  let role: IssuedAwsCredentials;
  before(() => {
    role = aws.issueRoleCredentials();
  });

  test('InvokeModel and Converse signed with issued credentials (the client speaks HTTP/2)', async () => {
    const client = bedrock(role);
    const answer = await client.send(invoke());
    const message = JSON.parse(Buffer.from(answer.body).toString('utf8')) as { content: { text: string }[]; model: string };
    assert.equal(message.content[0]?.text, 'ok');
    assert.equal(message.model, MODEL);
    const converse = await client.send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'hi' }] }] }));
    assert.equal(converse.output?.message?.content?.[0]?.text, 'ok');
    assert.deepEqual(aws.bedrockCalls.slice(-2), [
      { operation: 'invoke', modelId: MODEL, auth: 'sigv4', accessKeyId: role.accessKeyId, region: REGION },
      { operation: 'converse', modelId: MODEL, auth: 'sigv4', accessKeyId: role.accessKeyId, region: REGION },
    ]);
  });

  test('the Anthropic Bedrock SDK signs with the same credentials, over fetch', async () => {
    const anthropic = new AnthropicBedrock({
      awsAccessKey: role.accessKeyId,
      awsSecretKey: role.secretAccessKey,
      awsSessionToken: role.sessionToken,
      awsRegion: REGION,
      baseURL: aws.urls.bedrockRuntime,
      maxRetries: 0,
    });
    const message = await anthropic.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(message.content, [{ type: 'text', text: 'ok' }]);
    assert.equal(aws.bedrockCalls.at(-1)?.accessKeyId, role.accessKeyId);
  });

  test('a short-term Bedrock API key made from issued credentials is accepted as a bearer token', async () => {
    const token = await getToken({ credentials: sdkCredentials(role), region: REGION, expiresInSeconds: 900 });
    const client = new BedrockRuntimeClient({
      region: REGION,
      endpoint: aws.urls.bedrockRuntime,
      maxAttempts: 1,
      token: { token },
      authSchemePreference: ['httpBearerAuth'],
    });
    await client.send(invoke());
    assert.deepEqual(aws.bedrockCalls.at(-1), {
      operation: 'invoke',
      modelId: MODEL,
      auth: 'bearer',
      accessKeyId: role.accessKeyId,
      region: REGION,
    });

    const anthropic = new AnthropicBedrock({ apiKey: token, awsRegion: REGION, baseURL: aws.urls.bedrockRuntime, maxRetries: 0 });
    await anthropic.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(aws.bedrockCalls.at(-1)?.auth, 'bearer');
  });

  test('a tampered request, a wrong secret, a forged or expired API key and expired credentials are refused with 403', async () => {
    const tampered = bedrock(role);
    tampered.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown };
        request.body = INVOKE_BODY.replace('"hi"', '"ho"');
        return next(args);
      },
      { step: 'deserialize', priority: 'high', name: 'tamperAfterSigning' },
    );
    const status = (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode;
    await assert.rejects(tampered.send(invoke()), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(error.name, 'InvalidSignatureException');
      assert.equal(status(error), 403);
      return true;
    });
    await assert.rejects(
      bedrock(role, `${role.secretAccessKey.slice(0, -2)}AA`).send(invoke()),
      (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(error.name, 'InvalidSignatureException');
        assert.equal(status(error), 403);
        return true;
      },
    );

    const token = await getToken({ credentials: sdkCredentials(role), region: REGION, expiresInSeconds: 900 });
    const url = Buffer.from(token.slice('bedrock-api-key-'.length), 'base64').toString('utf8');
    // One hex digit of the signature changed (to another digit, whatever it was).
    const forgedUrl = url.replace(/X-Amz-Signature=([0-9a-f])/, (_, digit: string) => `X-Amz-Signature=${digit === '0' ? '1' : '0'}`);
    const forged = `bedrock-api-key-${Buffer.from(forgedUrl).toString('base64')}`;
    const withToken = (bearer: string) =>
      new BedrockRuntimeClient({
        region: REGION,
        endpoint: aws.urls.bedrockRuntime,
        maxAttempts: 1,
        token: { token: bearer },
        authSchemePreference: ['httpBearerAuth'],
      });
    await rejectsWithName(withToken(forged).send(invoke()), 'InvalidSignatureException');
    const rejectionsBefore = aws.rejections.length;
    const response = await fetch(`${aws.urls.bedrockRuntime}/model/${encodeURIComponent(MODEL)}/invoke`, {
      method: 'POST',
      headers: { authorization: 'Bearer bedrock-api-key-bm90LWEtdG9rZW4=', 'content-type': 'application/json' },
      body: INVOKE_BODY,
    });
    assert.equal(response.status, 403);
    assert.equal(aws.rejections.length, rejectionsBefore + 1);

    // A key dated (by the real clock, as the generator does) more than its lifetime ago has expired.
    mock.timers.enable({ apis: ['Date'], now: Date.now() - 901_000 });
    const old = await getToken({ credentials: sdkCredentials(role), region: REGION, expiresInSeconds: 900 }).finally(() =>
      mock.timers.reset(),
    );
    await rejectsWithName(withToken(old).send(invoke()), 'ExpiredTokenException');

    // A key lives no longer than the credentials it was made from.
    clock += aws.lifetimes.roleCredentialsSeconds * 1000;
    await rejectsWithName(withToken(token).send(invoke()), 'ExpiredTokenException');
    await rejectsWithName(bedrock(role).send(invoke()), 'ExpiredTokenException');
  });
});
