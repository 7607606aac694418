// The non-interactive identities, made by @azure/identity against loopback stand-ins that check what Entra ID
// and the managed-identity endpoints check: a service principal (secret, certificate), workload identity (a
// federated token the stand-in verifies), managed identity (App Service / Container Apps endpoint, IMDS) and
// the Azure CLI (a stand-in `az` on PATH). Each token is cached in the store by scope: the next call asks nobody.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AzureOpenAI } from 'openai';

import { createLoginkit } from '../../src/index.js';
import { makeHome, runCliProcess } from '../helpers/cli.js';
import {
  COGNITIVE_RESOURCE,
  type AzureOpenAIStandIn,
  type EntraAppStandIn,
  type FederatedIssuer,
  type ManagedIdentityStandIn,
  type TestTls,
  makeFederatedIssuer,
  makeTestTls,
  startAzureOpenAI,
  startEntraForApps,
  startManagedIdentity,
} from '../helpers/azure-stand-ins.js';

const ID = 'azure';
const SECRET = 'sp-secret-value-0123456789';

async function homeWith(settings: Record<string, unknown> = {}): Promise<string> {
  const home = await makeHome();
  await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { [ID]: { type: 'azure', ...settings } } }), { mode: 0o600 });
  return home;
}

describe('Microsoft Entra ID: service principal and workload identity (@azure/identity)', () => {
  let tls: TestTls & { pemWithKey: string; dir: string };
  let federated: FederatedIssuer;
  let entra: EntraAppStandIn;
  let openai: AzureOpenAIStandIn;
  before(async () => {
    tls = makeTestTls();
    federated = await makeFederatedIssuer();
    entra = await startEntraForApps({ tls, clientSecret: SECRET, certificatePem: tls.cert, federated });
    openai = await startAzureOpenAI((token) => entra.issued.has(token));
  });
  after(async () => {
    await openai.close();
    await entra.close();
    tls.remove();
  });

  const appEnv = (): Record<string, string> => ({
    LOGINKIT_STORE: 'file',
    AZURE_AUTHORITY_HOST: entra.authorityHost,
    AZURE_TENANT_ID: entra.tenant,
    AZURE_CLIENT_ID: entra.clientId,
  });

  test('a service principal with a secret (found by `auto`): AzureOpenAI works, and the token is cached in the store', async () => {
    const home = await homeWith({ endpoint: openai.url });
    const env = { ...appEnv(), AZURE_CLIENT_SECRET: SECRET };
    const kit = createLoginkit({ home, env, fetch: tls.fetch });
    const token = await kit.azureToken(ID);
    assert.equal(token.source, 'service-principal');
    assert.equal(entra.issued.get(token.token), 'secret');

    const client = new AzureOpenAI({ ...(await kit.azureOpenAIOptions(ID)), apiVersion: '2024-10-21', deployment: 'gpt-4o' });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]?.message.content, 'hello from Azure OpenAI');
    assert.equal(openai.accepted.at(-1), token.token);

    const requests = entra.tokenRequests;
    const again = createLoginkit({ home, env, fetch: tls.fetch });
    assert.equal(await again.getToken(ID), token.token, 'another client reads it from the store');
    assert.equal(entra.tokenRequests, requests, 'no second token request');
  });

  test('token --scope: a token for another resource, cached by scope beside the default one', async () => {
    const home = await homeWith();
    const env = { ...appEnv(), AZURE_CLIENT_SECRET: SECRET, NODE_EXTRA_CA_CERTS: tls.certFile };
    const scope = 'https://management.azure.com/.default';
    const other = await runCliProcess(['token', ID, '--scope', scope, '--json'], { home, env });
    assert.equal(other.code, 0, other.stderr);
    const parsed = JSON.parse(other.stdout) as { token: string; scope: string; source: string };
    assert.equal(parsed.scope, scope);
    assert.equal(parsed.source, 'service-principal');
    assert.ok(entra.issued.has(parsed.token));
    const own = await runCliProcess(['token', ID], { home, env });
    assert.notEqual(own.stdout.trim(), parsed.token);
    const requests = entra.tokenRequests;
    const again = await runCliProcess(['token', ID, '--scope', scope], { home, env });
    assert.equal(again.stdout.trim(), parsed.token);
    assert.equal(entra.tokenRequests, requests, 'from the store');
    const usage = await runCliProcess(['token', 'openai', '--scope', scope], { home, env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--scope is for Microsoft Entra ID providers/);
  });

  test('Entra ID refuses while the token in hand is still valid: it is used until it expires, with a warning; then the error', async () => {
    const home = await homeWith();
    const clock = { now: Date.now() };
    const warnings: string[] = [];
    const kit = createLoginkit({
      home,
      env: { ...appEnv(), AZURE_CLIENT_SECRET: SECRET },
      fetch: tls.fetch,
      now: () => clock.now,
      onWarning: (message) => warnings.push(message),
    });
    const token = await kit.getToken(ID);
    clock.now += 57 * 60_000; // three minutes left: due for renewal
    entra.refuseNext(53003);
    assert.equal(await kit.getToken(ID), token);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /conditional access policy .* \(AADSTS53003\).* Using the current token \(valid until /);
    clock.now += 5 * 60_000; // expired
    entra.refuseNext(53003);
    await assert.rejects(kit.getToken(ID), /conditional access policy/);
  });

  test('a service principal with a certificate: the client assertion MSAL signs is verified', async () => {
    const certificatePath = join(tls.dir, 'sp.pem');
    await writeFile(certificatePath, tls.pemWithKey, { mode: 0o600 });
    const home = await homeWith({ identity: 'service-principal', certificatePath });
    const token = await createLoginkit({ home, env: appEnv(), fetch: tls.fetch }).azureToken(ID);
    assert.equal(entra.issued.get(token.token), 'certificate');
  });

  test('workload identity: the federated token file is exchanged (client assertion jwt-bearer), verified by the stand-in', async () => {
    const dir = await makeHome();
    const tokenFile = join(dir, 'azure-identity-token');
    await writeFile(tokenFile, await federated.sign());
    const home = await homeWith();
    const env = { ...appEnv(), AZURE_FEDERATED_TOKEN_FILE: tokenFile };
    const token = await createLoginkit({ home, env, fetch: tls.fetch }).azureToken(ID);
    assert.equal(token.source, 'workload-identity');
    assert.equal(entra.issued.get(token.token), 'federated');

    // A token for a workload the app does not trust: refused, in one line naming the fix.
    await writeFile(tokenFile, await federated.sign(3600, 'system:serviceaccount:other:intruder'));
    const refused = await runCliProcess(['token', ID], { home: await homeWith(), env: { ...env, NODE_EXTRA_CA_CERTS: tls.certFile } });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match(refused.stderr, /No federated credential of the app matches .* \(AADSTS70021\)/);
  });

  test('conditional access refuses a service principal: one line, exit 1, nothing secret', async () => {
    const home = await homeWith();
    entra.refuseNext(53003);
    const result = await runCliProcess(['token', ID], {
      home,
      env: { ...appEnv(), AZURE_CLIENT_SECRET: SECRET, NODE_EXTRA_CA_CERTS: tls.certFile },
    });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /conditional access policy .* \(AADSTS53003\)/);
    assert.ok(!result.stderr.includes(SECRET));
  });
});

describe('Microsoft Entra ID: managed identity and the Azure CLI', () => {
  let mi: ManagedIdentityStandIn;
  before(async () => {
    mi = await startManagedIdentity();
  });
  after(async () => {
    await mi.close();
  });

  test('App Service / Container Apps (IDENTITY_ENDPOINT): `loginkit token` in a process, then from the store', async () => {
    const home = await homeWith();
    const env = { LOGINKIT_STORE: 'file', IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader };
    const first = await runCliProcess(['token', ID], { home, env });
    assert.equal(first.code, 0, first.stderr);
    const token = first.stdout.trim();
    assert.equal(mi.issued.get(token), 'app-service');
    assert.deepEqual(mi.refusals, []);
    const requests = mi.requests;
    const second = await runCliProcess(['token', ID], { home, env });
    assert.equal(second.stdout.trim(), token);
    assert.equal(mi.requests, requests, 'the second call asked nobody');
    assert.ok(!first.stderr.includes(mi.identityHeader) && !second.stderr.includes(token));
  });

  test('IMDS (identity "managed-identity" without IDENTITY_ENDPOINT)', async () => {
    const home = await homeWith({ identity: 'managed-identity' });
    const result = await runCliProcess(['token', ID], {
      home,
      env: {
        LOGINKIT_STORE: 'file',
        AZURE_POD_IDENTITY_AUTHORITY_HOST: mi.imdsHost,
        IDENTITY_ENDPOINT: undefined,
        IDENTITY_HEADER: undefined,
      },
    });
    assert.equal(result.code, 0, `${result.stderr}\n${mi.refusals.join('\n')}`);
    assert.equal(mi.issued.get(result.stdout.trim()), 'imds');
  });

  test('the Azure CLI as the last resort: `az account get-access-token` once, then the store', async () => {
    const bin = join(await makeHome(), 'bin');
    await mkdir(bin);
    const calls = join(bin, 'calls');
    const expiresOn = Math.floor(Date.now() / 1000) + 3600;
    // A stand-in `az`: records its arguments and prints what `az account get-access-token -o json` prints.
    await writeFile(
      join(bin, 'az'),
      `#!/bin/sh\necho "$*" >> '${calls}'\nprintf '{"accessToken":"az-cli-token-1","expiresOn":"2099-01-01 00:00:00.000000","expires_on":${expiresOn},"subscription":"s","tenant":"t","tokenType":"Bearer"}'\n`,
    );
    await chmod(join(bin, 'az'), 0o755);
    const home = await homeWith();
    const env = { LOGINKIT_STORE: 'file', PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    const first = await runCliProcess(['token', ID], { home, env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'az-cli-token-1\n');
    const second = await runCliProcess(['token', ID], { home, env });
    assert.equal(second.stdout, 'az-cli-token-1\n');
    const argv = (await readFile(calls, 'utf8')).trim().split('\n');
    assert.equal(argv.length, 1, 'az ran once');
    assert.match(argv[0] ?? '', new RegExp(`account get-access-token .*--resource ${COGNITIVE_RESOURCE}`));
  });

  test('nothing found anywhere: login required (exit 3), naming both ways in', async () => {
    const home = await homeWith();
    const result = await runCliProcess(['token', ID], { home, env: { LOGINKIT_STORE: 'file', PATH: '/nonexistent' } });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /no Azure identity was found/);
    assert.match(result.stderr, /Run: loginkit login azure/);
  });
});
