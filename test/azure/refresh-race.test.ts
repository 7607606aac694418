// 16 `loginkit token` processes at once on an Entra ID provider: a person's expired token is refreshed once
// (the rotating refresh token is never used twice, which would revoke the grant), and a managed identity is
// asked once; every process prints the same token.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createLoginkit } from '../../src/index.js';
import { makeHome, runCliProcess } from '../helpers/cli.js';
import { signInOverHttp } from '../helpers/person.js';
import { expireStoredToken } from '../helpers/store-fixtures.js';
import {
  type EntraPersonStandIn,
  type ManagedIdentityStandIn,
  startEntraForPerson,
  startManagedIdentity,
} from '../helpers/azure-stand-ins.js';

const ID = 'azure';

describe('Entra ID: 16 racing `loginkit token` processes', () => {
  let entra: EntraPersonStandIn;
  let mi: ManagedIdentityStandIn;
  before(async () => {
    entra = await startEntraForPerson();
    mi = await startManagedIdentity();
  });
  after(async () => {
    await entra.close();
    await mi.close();
  });

  test("a person's expired token: one refresh, one token, the grant survives", async () => {
    const home = await makeHome();
    const env = { LOGINKIT_STORE: 'file', AZURE_AUTHORITY_HOST: entra.authorityHost };
    const kit = createLoginkit({
      home,
      env,
      openBrowser: async (url) => {
        await signInOverHttp(url);
      },
    });
    await kit.addProvider(ID, { type: 'azure', tenant: entra.tenant });
    await kit.login(ID);
    await expireStoredToken(home, ID);
    const refreshes = entra.server.stats.refreshGrants;
    const revoked = entra.server.stats.grantsRevoked;

    const results = await Promise.all(Array.from({ length: 16 }, () => runCliProcess(['token', ID], { home, env })));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const tokens = new Set(results.map((result) => result.stdout));
    assert.equal(tokens.size, 1, 'every process printed the same token');
    assert.equal(entra.server.stats.refreshGrants - refreshes, 1, 'the tenant saw exactly one refresh');
    assert.equal(entra.server.stats.grantsRevoked, revoked, 'no refresh token reuse, so the grant was not revoked');
    assert.ok(await entra.honours(String([...tokens][0]).trim()));
  });

  test('a managed identity with nothing cached: asked once', async () => {
    const home = await makeHome();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { [ID]: { type: 'azure', identity: 'managed-identity' } } }));
    const env = { LOGINKIT_STORE: 'file', IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader };
    const requests = mi.requests;
    const results = await Promise.all(Array.from({ length: 16 }, () => runCliProcess(['token', ID], { home, env })));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    assert.equal(new Set(results.map((result) => result.stdout)).size, 1);
    assert.equal(mi.requests - requests, 1, 'the endpoint was asked once');
  });
});
