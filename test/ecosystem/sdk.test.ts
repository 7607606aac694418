// The official SDKs, as an application uses them, with loginkit's one line each, against stand-ins that
// check what the real services check. Rejected keys must surface as the SDK's own error after exactly one
// request; an OAuth token revoked at the server must be refreshed once and the call succeed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { APICallError, generateText } from 'ai';
import Anthropic from '@anthropic-ai/sdk';
import { ApiError } from '@google/genai';
import OpenAI from 'openai';
import { createLoginkit, isLoginRequired, type Loginkit } from '../../src/index.js';
import { type AuthServer, startAuthServer } from '../helpers/auth-server.js';
import { signInOverHttp } from '../helpers/person.js';
import { makeHome } from '../helpers/cli.js';
import { credentialEntry, storeBytes } from '../lifecycle/support.js';
import { type SdkStandIns, startSdkStandIns } from '../helpers/sdk-stand-ins.js';
import { sdkClients } from './sdk-lines.js';

const random = (n: number): string => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x').slice(0, n);
const openaiKey = (): string => `sk-proj-${random(40)}`;
const anthropicKey = (): string => `sk-ant-api03-${random(40)}`;
const geminiKey = (): string => `AIza${random(35)}`;

describe('the official SDKs with one line each', () => {
  let stand: SdkStandIns;
  let home: string;
  let kit: Loginkit;
  const warnings: string[] = [];
  const keys = { openai: '', anthropic: '', gemini: '' };

  before(async () => {
    stand = await startSdkStandIns();
    home = await makeHome();
    await writeFile(
      join(home, 'config.json'),
      JSON.stringify({
        providers: {
          openai: { baseUrl: `${stand.url}/openai/v1` },
          anthropic: { baseUrl: `${stand.url}/anthropic` },
          gemini: { baseUrl: `${stand.url}/gemini` },
        },
      }),
    );
    kit = createLoginkit({ home, env: {}, store: 'memory', onWarning: (message) => warnings.push(message) });
  });
  after(async () => {
    await stand.close();
  });
  beforeEach(async () => {
    stand.requests.length = 0;
    stand.accepted.clear();
    keys.openai = openaiKey();
    keys.anthropic = anthropicKey();
    keys.gemini = geminiKey();
    for (const [id, key] of Object.entries(keys)) {
      stand.accepted.add(key);
      await kit.loginWithApiKey(id, key, { verify: false });
    }
  });

  test('each line works: OpenAI, Anthropic, Gemini and the AI SDK providers answer', async () => {
    const { openai, anthropic, gemini, aiOpenAI, aiAnthropic } = await sdkClients(kit);
    const models = await openai.models.list();
    assert.equal(models.data[0]?.id, 'gpt-test');
    const chat = await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.choices[0]?.message.content, 'hello from openai');
    const message = await anthropic.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(message.content[0], { type: 'text', text: 'hello from anthropic' });
    const generated = await gemini.models.generateContent({ model: 'gemini-test', contents: 'hi' });
    assert.equal(generated.text, 'hello from gemini');
    assert.equal((await generateText({ model: aiOpenAI.chat('gpt-test'), prompt: 'hi' })).text, 'hello from openai');
    assert.equal((await generateText({ model: aiAnthropic('claude-test'), prompt: 'hi' })).text, 'hello from anthropic');
    // Every request carried the real key in the provider's header, and only that credential header.
    for (const seen of stand.requests) {
      if (seen.service === 'openai') assert.equal(seen.headers.authorization, `Bearer ${keys.openai}`);
      if (seen.service === 'gemini') assert.equal(seen.headers['x-goog-api-key'], keys.gemini);
      if (seen.service !== 'anthropic') assert.equal(seen.headers['x-api-key'], undefined);
    }
  });

  test('Anthropic requests carry x-api-key and no Authorization, and keep the anthropic-version the SDK chose', async () => {
    const anthropic = new Anthropic({ ...(await kit.anthropicOptions()), defaultHeaders: { 'anthropic-version': '2099-01-01' } });
    await anthropic.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const { aiAnthropic } = await sdkClients(kit);
    await generateText({ model: aiAnthropic('claude-test'), prompt: 'hi' });
    const seen = stand.requests.filter((request) => request.service === 'anthropic');
    assert.equal(seen.length, 2);
    for (const request of seen) {
      assert.equal(request.headers['x-api-key'], keys.anthropic);
      assert.equal(request.headers.authorization, undefined);
    }
    assert.equal(seen[0]?.headers['anthropic-version'], '2099-01-01');
    assert.equal(seen[1]?.headers['anthropic-version'], '2023-06-01');
  });

  test('a rejected key is the SDK’s own authentication error, after exactly one request', async () => {
    stand.accepted.clear();
    const { openai, anthropic, gemini, aiOpenAI, aiAnthropic } = await sdkClients(kit);
    const count = (): number => stand.requests.length;

    await assert.rejects(openai.models.list(), (error: unknown) => error instanceof OpenAI.AuthenticationError && error.status === 401);
    assert.equal(count(), 1);
    await assert.rejects(
      anthropic.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => error instanceof Anthropic.AuthenticationError,
    );
    assert.equal(count(), 2);
    await assert.rejects(
      gemini.models.generateContent({ model: 'gemini-test', contents: 'hi' }),
      (error: unknown) => error instanceof ApiError && error.status === 400 && /API key not valid/.test(error.message),
    );
    assert.equal(count(), 3);
    for (const model of [aiOpenAI.chat('gpt-test'), aiAnthropic('claude-test')]) {
      await assert.rejects(generateText({ model, prompt: 'hi' }), (error: unknown) => {
        const cause = APICallError.isInstance(error) ? error : (error as { lastError?: unknown }).lastError;
        return APICallError.isInstance(cause) && cause.statusCode === 401 && !cause.isRetryable;
      });
    }
    assert.equal(count(), 5);
    // A stored key cannot be renewed without the person: the refused-token API says so, with the fix.
    await assert.rejects(kit.renewRejectedToken('openai', keys.openai), (error: unknown) => {
      assert.ok(isLoginRequired(error));
      assert.match(error.message, /cannot be renewed without you\.\nRun: loginkit login openai/);
      assert.ok(!error.message.includes(keys.openai));
      return true;
    });
    // No secret in any error or warning.
    assert.ok(!warnings.some((w) => Object.values(keys).some((key) => w.includes(key))));
  });
});

describe('an OAuth sign-in through the OpenAI SDK', () => {
  let server: AuthServer;
  let stand: SdkStandIns;
  let kit: Loginkit;

  before(async () => {
    server = await startAuthServer({ accessTokenTtl: 3600, rotateRefreshTokens: true });
    stand = await startSdkStandIns();
    // The API accepts an access token while the issuer's userinfo endpoint does (a gateway's check).
    stand.acceptToken = async (token) => (await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).ok;
    kit = createLoginkit({
      home: await makeHome(),
      env: {},
      store: 'memory',
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
    });
    await kit.addProvider('acme', { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
    await kit.login('acme');
  });
  after(async () => {
    await stand.close();
    await server.close();
  });

  test('an access token the API revoked is refreshed once and the call succeeds', async () => {
    const openai = new OpenAI({ ...(await kit.openaiOptions('acme')), baseURL: `${stand.url}/openai/v1` });
    assert.equal((await openai.models.list()).data[0]?.id, 'gpt-test');
    // The API revokes the access token (as a gateway does after a password change); the grant stays valid.
    const revoked = await kit.getToken('acme');
    stand.revoked.add(revoked);
    stand.requests.length = 0;
    const refreshesBefore = server.stats.refreshGrants;
    assert.equal((await openai.models.list()).data[0]?.id, 'gpt-test');
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1);
    assert.equal(stand.requests.length, 2);
    assert.equal(stand.requests[0]?.headers.authorization, `Bearer ${revoked}`);
    assert.notEqual(stand.requests[1]?.headers.authorization, `Bearer ${revoked}`);
    assert.equal(server.stats.grantsRevoked, 0);
  });

  test('an application that handles the 401 itself reports the refused token and gets a fresh one, once', async () => {
    const current = await kit.getToken('acme');
    const refreshesBefore = server.stats.refreshGrants;
    const [a, b] = await Promise.all([kit.renewRejectedToken('acme', current), kit.renewRejectedToken('acme', current)]);
    assert.equal(a, b);
    assert.notEqual(a, current);
    // Reporting the old token again does not refresh again: its replacement is the answer.
    assert.equal(await kit.renewRejectedToken('acme', current), a);
    assert.equal(server.stats.refreshGrants - refreshesBefore, 1);
    assert.equal(await kit.getToken('acme'), a);
  });
});

describe('after "Sign in with ChatGPT"', () => {
  let stand: SdkStandIns;
  before(async () => {
    stand = await startSdkStandIns();
  });
  after(async () => {
    await stand.close();
  });

  test('the SDK gets the API key the token exchange produced, not the ChatGPT access token', async () => {
    const home = await makeHome();
    const exchanged = openaiKey();
    const accessToken = `chatgpt-${random(20)}`;
    const chatgpt = {
      ...credentialEntry({
        provider: 'openai',
        tokenEndpoint: 'https://auth.openai.com/oauth/token',
        accessToken,
        expiresInMs: 3_600_000,
      }),
      profile: 'default',
      apiKey: exchanged,
    };
    await writeFile(join(home, 'credentials.json'), storeBytes({ 'openai/default': chatgpt }), { mode: 0o600 });
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { openai: { baseUrl: `${stand.url}/openai/v1` } } }));
    stand.accepted.add(exchanged);
    const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    const openai = new OpenAI(await kit.openaiOptions());
    assert.equal((await openai.models.list()).data[0]?.id, 'gpt-test');
    assert.equal(stand.requests.at(-1)?.headers.authorization, `Bearer ${exchanged}`);
    // getToken keeps its meaning (the access token); exec and the SDK helpers hand out the key.
    assert.equal(await kit.getToken('openai'), accessToken);
  });
});

describe('warnings without onWarning', () => {
  test('a plaintext fallback of the auto store is reported through process.emitWarning', async () => {
    const warnings: Error[] = [];
    const listener = (warning: Error): void => void warnings.push(warning);
    process.on('warning', listener);
    try {
      // No D-Bus session in this environment: no keychain, so `auto` falls back to a plaintext file.
      const kit = createLoginkit({ home: await makeHome(), env: {} });
      await kit.loginWithApiKey('openai', openaiKey(), { verify: false });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    const warning = warnings.find((w) => w.name === 'LoginkitWarning');
    assert.ok(warning, `no LoginkitWarning among ${warnings.map((w) => w.name).join(', ')}`);
    assert.match(warning.message, /plaintext|file/i);
  });
});
