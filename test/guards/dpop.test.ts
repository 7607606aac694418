// DPoP (RFC 9449) on requests to an MCP server: the proof's `htu` is the URL without query and fragment, its
// `ath` the base64url SHA-256 of the access token, and a DPoP-bound token goes out as `Authorization: DPoP` with a
// proof (never as Bearer, which a server that binds tokens refuses and which would make the binding pointless).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { EmbeddedJWK, calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { createLoginkit } from '../../src/index.js';
import { type DpopKeyJwks, createDpopProof } from '../../src/oauth/dpop.js';
import { serializeCredential, toCredential } from '../../src/session/credential.js';
import { createMemoryStore } from '../../src/store/memory-store.js';

async function newKey(): Promise<DpopKeyJwks> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const [privateJwk, publicJwk] = await Promise.all([exportJWK(pair.privateKey), exportJWK(pair.publicKey)]);
  return { privateJwk: { ...privateJwk, kty: 'EC' }, publicJwk: { ...publicJwk, kty: 'EC' }, alg: 'ES256' };
}

/** The proof's claims, after checking its signature against the key it carries (as a resource server does). */
async function verifiedClaims(proof: string): Promise<Record<string, unknown>> {
  const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
  return payload;
}

test('the proof names the URL without query and fragment (htu) and the method (htm)', async () => {
  const proof = await createDpopProof(await newKey(), { method: 'post', url: new URL('https://rs.example/mcp?session=1#frag') });
  const claims = await verifiedClaims(proof);
  assert.equal(claims['htu'], 'https://rs.example/mcp');
  assert.equal(claims['htm'], 'POST');
  assert.equal(claims['ath'], undefined, 'no access token, no ath');
});

test('ath is the base64url SHA-256 of the access token (RFC 9449 §7.1 example)', async () => {
  const accessToken = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
  const proof = await createDpopProof(await newKey(), { method: 'GET', url: new URL('https://rs.example/mcp'), accessToken });
  assert.equal((await verifiedClaims(proof))['ath'], 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
});

/**
 * An MCP server that binds tokens to keys (RFC 9449 §7): it accepts only `Authorization: DPoP <token>` with a
 * valid proof by the bound key for this request; anything else gets a DPoP challenge. Records each request's
 * scheme and why it refused.
 */
async function startDpopResourceServer(token: string, boundJkt: string) {
  const schemes: string[] = [];
  const refusals: string[] = [];
  let base = '';
  const refuse = (res: ServerResponse, why: string) => {
    refusals.push(why);
    res.writeHead(401, { 'www-authenticate': `DPoP error="invalid_token", error_description="${why}", algs="ES256"` });
    res.end();
  };
  const check = async (req: IncomingMessage): Promise<string | undefined> => {
    const [scheme, presented] = (req.headers.authorization ?? '').split(' ');
    schemes.push(scheme ?? '');
    if (scheme !== 'DPoP') return 'DPoP-bound token sent as another scheme';
    if (presented !== token) return 'unknown token';
    const proof = req.headers.dpop;
    if (typeof proof !== 'string') return 'no DPoP proof';
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    if ((await calculateJwkThumbprint(protectedHeader.jwk ?? {})) !== boundJkt) return 'proof by another key';
    if (payload['htm'] !== req.method || payload['htu'] !== `${base}/mcp`) return 'proof for another request';
    if (payload['ath'] !== createHash('sha256').update(presented).digest('base64url')) return 'proof for another token';
    return undefined;
  };
  const server = createServer((req, res) => {
    req.resume();
    void check(req).then(
      (problem) => {
        if (problem) return refuse(res, problem);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: {} }));
      },
      () => refuse(res, 'invalid proof'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/mcp`,
    schemes,
    refusals,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('a DPoP-bound token goes to the MCP server as Authorization: DPoP with a proof by its key', async () => {
  const key = await newKey();
  const accessToken = 'dpop-bound-access-token';
  const server = await startDpopResourceServer(accessToken, await calculateJwkThumbprint(key.publicJwk));
  try {
    // The credential of an earlier sign-in whose authorization server bound the token to `key` (token_type DPoP).
    const now = Date.now();
    const credential = toCredential(
      {
        provider: 'mcp-dpop-seeded',
        profile: 'default',
        clientId: 'client-1',
        server: { issuer: 'http://127.0.0.1:9', token_endpoint: 'http://127.0.0.1:9/token' },
        mcp: { serverUrl: server.url, resource: server.url, grant: 'authorization_code', authMethod: 'none', dpop: key },
      },
      {
        accessToken,
        refreshToken: undefined,
        idToken: undefined,
        tokenType: 'dpop',
        scopes: ['read'],
        expiresAt: now + 3_600_000,
        obtainedAt: now,
        account: { subject: 'seeded' },
      },
    );
    const store = createMemoryStore();
    await store.update(() => ({
      mcp: { [`server:${encodeURIComponent(server.url)}`]: 'mcp-dpop-seeded', 'mcp-dpop-seeded/default': serializeCredential(credential) },
    }));
    const kit = createLoginkit({ store, home: '/nonexistent-loginkit-home', env: {}, timeoutMs: 5_000 });
    const mcpFetch = kit.mcp(server.url, { interactive: false }).createFetch();
    const rpc = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' };
    const response = await mcpFetch(`${server.url}?session=1`, rpc).catch((error: Error) =>
      assert.fail(`${error.message}\nThe server refused: ${server.refusals.join('; ')}`),
    );
    assert.equal(response.status, 200);
    assert.deepEqual(server.schemes, ['DPoP']);
  } finally {
    await server.close();
  }
});
