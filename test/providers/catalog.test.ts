// The built-in provider catalog: its data is well formed, key formats accept real-shaped keys and refuse
// typical mistakes, and each provider's validation request, sent with plain fetch, is told apart by a
// stand-in that checks what the real service checks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BUILTIN_PROVIDERS, type ApiKeySpec, type ProviderSpec } from '../../src/providers/catalog.js';
import { startProviderStandIns, type ProviderStandIns } from '../helpers/provider-stand-ins.js';

const REQUIRED_IDS = [
  'openai',
  'anthropic',
  'gemini',
  'mistral',
  'groq',
  'xai',
  'deepseek',
  'openrouter',
  'together',
  'fireworks',
  'cohere',
  'perplexity',
  'huggingface',
  'azure-openai',
];

const withKeys = BUILTIN_PROVIDERS.filter((p): p is ProviderSpec & { apiKey: ApiKeySpec } => p.apiKey !== undefined);

function provider(id: string): ProviderSpec {
  const found = BUILTIN_PROVIDERS.find((p) => p.id === id);
  assert.ok(found, `provider ${id} is in the catalog`);
  return found;
}

/** A provider's format has a distinctive prefix when it refuses a key-like string without one. */
function hasDistinctivePrefix(spec: ApiKeySpec): boolean {
  return !spec.format.pattern.test('Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0n');
}

describe('catalog data', () => {
  test('has every required provider, each id unique and lower-case', () => {
    const ids = BUILTIN_PROVIDERS.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
    for (const id of REQUIRED_IDS) assert.ok(ids.includes(id), `${id} is built in`);
    for (const id of ids) assert.match(id, /^[a-z0-9][a-z0-9-]*$/);
  });

  test('docs URLs and default base URLs are https; base URLs have no trailing slash', () => {
    for (const p of BUILTIN_PROVIDERS) {
      assert.equal(new URL(p.docsUrl).protocol, 'https:', `${p.id} docsUrl`);
      if (!p.apiKey) continue;
      assert.equal(new URL(p.apiKey.defaultBaseUrl).protocol, 'https:', `${p.id} defaultBaseUrl`);
      assert.ok(!p.apiKey.defaultBaseUrl.endsWith('/'), `${p.id} defaultBaseUrl has no trailing slash`);
    }
  });

  test('environment variable names are upper-case and not shared between providers', () => {
    const owner = new Map<string, string>();
    for (const p of withKeys) {
      const names = [...p.apiKey.envVars, ...(p.apiKey.baseUrlEnvVar ? [p.apiKey.baseUrlEnvVar] : [])];
      if (p.accessTokenEnvVar) names.push(p.accessTokenEnvVar);
      assert.ok(p.apiKey.envVars.length > 0, `${p.id} has a key variable`);
      for (const name of names) {
        assert.match(name, /^[A-Z][A-Z0-9_]*$/, `${p.id}: ${name}`);
        assert.equal(owner.get(name) ?? p.id, p.id, `${name} belongs to one provider`);
        owner.set(name, p.id);
      }
    }
  });

  test('methods match the settings present; validation requests are well formed', () => {
    for (const p of BUILTIN_PROVIDERS) {
      assert.equal(p.methods.includes('api_key'), p.apiKey !== undefined, `${p.id} api_key`);
      assert.equal(p.methods.includes('oauth'), p.oauth !== undefined, `${p.id} oauth`);
      if (!p.apiKey) continue;
      const { validation, format } = p.apiKey;
      assert.ok(validation.path.startsWith('/'), `${p.id} validation path starts with /`);
      assert.ok(validation.okStatuses.length > 0 && validation.rejectedStatuses.length > 0, `${p.id} statuses`);
      assert.ok(!validation.okStatuses.some((s) => validation.rejectedStatuses.includes(s)), `${p.id} ok and rejected differ`);
      assert.equal(format.pattern.flags, '', `${p.id} pattern has no flags (a /g pattern would keep state)`);
      assert.ok(format.pattern.source.startsWith('^') && format.pattern.source.endsWith('$'), `${p.id} pattern is anchored`);
      assert.ok(format.description.length > 0);
    }
  });

  test('the OpenAI preset is the Codex CLI registration, exactly', () => {
    const openai = provider('openai');
    assert.deepEqual([...openai.methods].sort(), ['api_key', 'oauth']);
    assert.deepEqual(openai.oauth, {
      issuer: 'https://auth.openai.com',
      clientId: 'app_EMoamEEZ73f0CkXaXp7hrann',
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      redirectUri: 'http://localhost:1455/auth/callback',
      fallbackRedirectPorts: [1457],
      authorizeParams: { id_token_add_organizations: 'true', codex_cli_simplified_flow: 'true' },
      jsonBodyEndpoints: true,
      knownEndpoints: { token: 'https://auth.openai.com/oauth/token', revocation: 'https://auth.openai.com/oauth/revoke' },
      apiKeyExchange: { requestedToken: 'openai-api-key' },
      deviceProtocol: 'openai',
      accountClaims: {
        email: [['email'], ['https://api.openai.com/profile', 'email']],
        plan: [['https://api.openai.com/auth', 'chatgpt_plan_type']],
        workspace: [['https://api.openai.com/auth', 'chatgpt_account_id']],
      },
    });
  });

  test('Anthropic offers API keys only, with the policy note and the version header', () => {
    const anthropic = provider('anthropic');
    assert.deepEqual(anthropic.methods, ['api_key']);
    assert.equal(anthropic.oauth, undefined);
    assert.match(anthropic.policyNote ?? '', /Free, Pro or Max/);
    assert.equal(anthropic.apiKey?.header.name, 'x-api-key');
    assert.deepEqual(anthropic.apiKey?.extraHeaders, { 'anthropic-version': '2023-06-01' });
  });

  test('Azure OpenAI needs its endpoint and sends the key in api-key', () => {
    const azure = provider('azure-openai').apiKey;
    assert.equal(azure?.baseUrlRequired, true);
    assert.equal(azure?.baseUrlEnvVar, 'AZURE_OPENAI_ENDPOINT');
    assert.deepEqual(azure?.header, { name: 'api-key' });
    assert.match(azure?.validation.path ?? '', /^\/openai\/models\?api-version=\d{4}-\d{2}-\d{2}$/);
  });
});

describe('key formats and validation requests', () => {
  let standIns: ProviderStandIns;

  before(async () => {
    standIns = await startProviderStandIns();
  });
  after(async () => {
    await standIns.close();
  });

  test('each good and bad stand-in key matches its provider format', () => {
    for (const p of withKeys) {
      const good = standIns.goodKeyFor(p.id);
      const bad = standIns.badKeyFor(p.id);
      assert.notEqual(good, bad);
      assert.match(good, p.apiKey.format.pattern, `${p.id} good key`);
      assert.match(bad, p.apiKey.format.pattern, `${p.id} bad key`);
    }
  });

  test('typical malformed keys are refused', () => {
    for (const p of withKeys) {
      const good = standIns.goodKeyFor(p.id);
      const middle = Math.floor(good.length / 2);
      const malformed = ['', ' ', ` ${good}`, `${good} `, `${good}\n`, `${good.slice(0, middle)} ${good.slice(middle)}`];
      for (const key of malformed) {
        assert.doesNotMatch(key, p.apiKey.format.pattern, `${p.id} refuses ${JSON.stringify(key.replace(good, '<key>'))}`);
      }
    }
  });

  test("a provider with a distinctive prefix refuses another provider's key", () => {
    // DeepSeek keys (sk- + hex) are indistinguishable from OpenAI's legacy user keys.
    const sameShape = new Set(['openai<deepseek']);
    for (const p of withKeys.filter((candidate) => hasDistinctivePrefix(candidate.apiKey))) {
      for (const other of withKeys) {
        if (other.id === p.id || sameShape.has(`${p.id}<${other.id}`)) continue;
        assert.doesNotMatch(standIns.goodKeyFor(other.id), p.apiKey.format.pattern, `${p.id} refuses a ${other.id} key`);
      }
    }
  });

  test('Anthropic refuses subscription OAuth tokens; Gemini takes both standard and auth keys', () => {
    const anthropic = provider('anthropic').apiKey!.format.pattern;
    assert.doesNotMatch(`sk-ant-oat01-${'a'.repeat(80)}`, anthropic);
    assert.doesNotMatch(`sk-ant-admin01-${'a'.repeat(80)}`, anthropic);
    const gemini = provider('gemini').apiKey!.format.pattern;
    assert.match(`AQ.Ab8RN6${'x'.repeat(40)}`, gemini);
    assert.doesNotMatch(`AIza${'x'.repeat(34)}`, gemini, 'a standard key is exactly 39 characters');
  });

  for (const p of withKeys) {
    test(`${p.id}: the stand-in accepts the good key and refuses a bad, missing or misplaced one`, async () => {
      const spec = p.apiKey;
      const url = standIns.baseUrlFor(p.id) + spec.validation.path;
      const send = (headers: Record<string, string>) => fetch(url, { method: spec.validation.method, headers });
      const extra = { ...spec.extraHeaders };

      const ok = await send({ ...extra, ...keyHeaders(spec, standIns.goodKeyFor(p.id)) });
      assert.ok(spec.validation.okStatuses.includes(ok.status), `good key: ${ok.status}`);
      assert.equal(typeof (await ok.json()), 'object');

      const rejected = await send({ ...extra, ...keyHeaders(spec, standIns.badKeyFor(p.id)) });
      assert.ok(spec.validation.rejectedStatuses.includes(rejected.status), `bad key: ${rejected.status}`);
      await rejected.body?.cancel();

      const missing = await send(extra);
      assert.ok([400, 401, 403].includes(missing.status), `no key: ${missing.status}`);
      await missing.body?.cancel();

      const misplaced = await send({ ...extra, ...wrongFormHeaders(spec, standIns.goodKeyFor(p.id)) });
      assert.ok([400, 401, 403].includes(misplaced.status), `good key in the wrong form: ${misplaced.status}`);
      await misplaced.body?.cancel();
    });
  }

  test('Anthropic without anthropic-version is a 400 even with the good key', async () => {
    const spec = provider('anthropic').apiKey!;
    const res = await fetch(standIns.baseUrlFor('anthropic') + spec.validation.path, {
      headers: keyHeaders(spec, standIns.goodKeyFor('anthropic')),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' },
    });
  });

  test('a wrong path, a wrong query or another method is a 404', async () => {
    const azure = provider('azure-openai').apiKey!;
    const key = keyHeaders(azure, standIns.goodKeyFor('azure-openai'));
    const base = standIns.baseUrlFor('azure-openai');
    assert.equal((await fetch(`${base}/openai/models`, { headers: key })).status, 404, 'api-version is required');
    assert.equal((await fetch(`${base}${azure.validation.path}`, { method: 'POST', headers: key })).status, 404);
    assert.equal((await fetch(`${standIns.url}/nobody/v1/models`)).status, 404);
  });

  test('recorded requests keep header names and paths but never a key', () => {
    assert.ok(standIns.requests.length > withKeys.length);
    const recorded = JSON.stringify(standIns.requests);
    for (const p of withKeys) {
      assert.ok(!recorded.includes(standIns.goodKeyFor(p.id)), `${p.id} good key not recorded`);
      assert.ok(!recorded.includes(standIns.badKeyFor(p.id)), `${p.id} bad key not recorded`);
    }
    const anthropic = standIns.requests.find((r) => r.provider === 'anthropic' && r.headerNames.includes('x-api-key'));
    assert.deepEqual(anthropic?.path, '/v1/models');
    assert.ok(anthropic?.headerNames.includes('anthropic-version'));
  });
});

/** The header that carries `key` as the provider documents it. */
function keyHeaders(spec: ApiKeySpec, key: string): Record<string, string> {
  return { [spec.header.name]: spec.header.scheme ? `${spec.header.scheme} ${key}` : key };
}

/** The same key in the form a careless client might use: bare instead of Bearer, or Bearer instead of a key header. */
function wrongFormHeaders(spec: ApiKeySpec, key: string): Record<string, string> {
  return spec.header.scheme ? { [spec.header.name]: key } : { Authorization: `Bearer ${key}` };
}
