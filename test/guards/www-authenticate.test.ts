// What loginkit takes from a resource server's WWW-Authenticate header (RFC 9110 §11.6.1, RFC 6750 §3,
// RFC 9728 §5.1): a repeated parameter cannot override the first one, and another scheme's parameters are never
// read as if the Bearer (or DPoP) challenge had said them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerChallenge, parseWwwAuthenticate } from '../../src/oauth/www-authenticate.js';

const challengeOf = (header: string) => bearerChallenge({ headers: new Headers({ 'www-authenticate': header }) });

test('a repeated parameter: the first value wins, a second resource_metadata cannot point elsewhere', () => {
  const header =
    'Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", scope="read", ' +
    'resource_metadata="http://169.254.169.254/latest/meta-data/", scope="admin"';
  assert.deepEqual(parseWwwAuthenticate(header)[0]?.params, {
    resource_metadata: 'https://mcp.example/.well-known/oauth-protected-resource/mcp',
    scope: 'read',
  });
  const challenge = challengeOf(header);
  assert.equal(challenge?.resourceMetadata, 'https://mcp.example/.well-known/oauth-protected-resource/mcp');
  assert.deepEqual(challenge?.scopes, ['read']);
  // Parameter names are case-insensitive: a differently cased repeat is still a repeat.
  assert.equal(challengeOf('Bearer error="invalid_token", ERROR="insufficient_scope"')?.error, 'invalid_token');
});

test("another scheme's parameters are not taken: no Bearer challenge, no resource metadata from Negotiate", () => {
  assert.equal(challengeOf('Basic realm="x", error="insufficient_scope", scope="admin"'), undefined);
  const negotiateFirst = challengeOf('Negotiate resource_metadata="https://evil.example/prm", Bearer realm="mcp"');
  assert.equal(negotiateFirst?.scheme, 'Bearer');
  assert.equal(negotiateFirst?.resourceMetadata, undefined);
  assert.equal(negotiateFirst?.error, undefined);
  assert.deepEqual(negotiateFirst?.scopes, []);
  // The Bearer challenge's own parameters are read even when another scheme comes first with the same names.
  const both = challengeOf('Basic error="invalid_request", scope="admin", Bearer error="insufficient_scope", scope="files:write"');
  assert.equal(both?.error, 'insufficient_scope');
  assert.deepEqual(both?.scopes, ['files:write']);
  assert.equal(challengeOf('DPoP error="use_dpop_nonce", algs="ES256", Basic realm="x"')?.scheme, 'DPoP');
});
