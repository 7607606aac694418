// A person's sign-in at each Microsoft cloud: the tenant's v2.0 endpoints on the authority host, and the issuer
// its ID tokens carry (Entra ID in China names another host than the one signed in at).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Provider } from '../../src/providers/registry.js';
import { personSignIn, resolveAzureTarget } from '../../src/features/azure/settings.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const provider = { id: 'azure', displayName: 'azure' } as Provider;

function signInAt(authorityHost: string | undefined) {
  const env = authorityHost ? { AZURE_AUTHORITY_HOST: authorityHost } : {};
  return personSignIn(resolveAzureTarget(provider, { identity: 'person', tenant: TENANT }, env));
}

test("a person's sign-in in the public, US Government and China clouds", () => {
  const publicCloud = signInAt(undefined);
  assert.equal(publicCloud.issuer, `https://login.microsoftonline.com/${TENANT}/v2.0`);
  assert.equal(publicCloud.endpoints?.authorization, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`);
  assert.equal(publicCloud.endpoints?.token, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`);
  assert.equal(publicCloud.endpoints?.deviceAuthorization, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/devicecode`);
  assert.equal(publicCloud.endpoints?.revocation, undefined, 'Entra ID has no revocation endpoint');
  assert.equal(publicCloud.clientId, '04b07795-8ddb-461a-bbee-02f9e1bf7b46');
  assert.deepEqual(publicCloud.scopes, ['https://cognitiveservices.azure.com/.default', 'offline_access', 'openid', 'profile']);

  const government = signInAt('https://login.microsoftonline.us/');
  assert.equal(government.issuer, `https://login.microsoftonline.us/${TENANT}/v2.0`);
  assert.equal(government.scopes[0], 'https://cognitiveservices.azure.us/.default');

  const china = signInAt('https://login.chinacloudapi.cn');
  assert.equal(china.endpoints?.token, `https://login.chinacloudapi.cn/${TENANT}/oauth2/v2.0/token`);
  assert.equal(china.issuer, `https://login.partner.microsoftonline.cn/${TENANT}/v2.0`);
  assert.equal(china.scopes[0], 'https://cognitiveservices.azure.cn/.default');
});
