// Logout revokes the refresh token first, then the access token (RFC 7009 §2.1: revoking the refresh token usually
// ends the grant, so an access token revoked first could be renewed in between). Checked on the requests
// themselves, in the order a stand-in revocation endpoint receives them.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { createLoginkit } from '../../src/index.js';
import { makeHome } from '../helpers/cli.js';
import { type ScriptedAuthServer, startScriptedAuthServer } from '../helpers/scripted-auth-server.js';
import { seedStore } from '../lifecycle/support.js';

const servers: ScriptedAuthServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

describe('logout', () => {
  test('revokes the refresh token first, then the access token, each with its hint', async () => {
    const server = await startScriptedAuthServer();
    servers.push(server);
    const home = await makeHome();
    await seedStore(home, [
      {
        provider: 'demo',
        tokenEndpoint: `${server.issuer}/token`,
        accessToken: 'the-access-token',
        refreshToken: 'the-refresh-token',
        expiresInMs: 30 * 60_000,
        server: { revocation_endpoint: `${server.issuer}/revoke` },
      },
    ]);

    const result = await createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } }).logout('demo');
    assert.equal(result.revocation, 'revoked');
    assert.equal(result.removed, true);
    assert.deepEqual(
      server.requests.map((request) => [request.path, request.body.get('token'), request.body.get('token_type_hint')]),
      [
        ['/revoke', 'the-refresh-token', 'refresh_token'],
        ['/revoke', 'the-access-token', 'access_token'],
      ],
    );
  });
});
