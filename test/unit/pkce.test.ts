import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPkcePair, createState, pkceChallenge } from '../../src/oauth/pkce.js';

test('S256 challenge matches RFC 7636 Appendix B', async () => {
  assert.equal(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

test('every attempt gets a fresh 43-character verifier of unreserved characters, and its challenge', async () => {
  const a = await createPkcePair();
  const b = await createPkcePair();
  assert.notEqual(a.verifier, b.verifier);
  for (const pair of [a, b]) {
    assert.match(pair.verifier, /^[A-Za-z0-9\-._~]{43,128}$/);
    assert.equal(pair.challenge, await pkceChallenge(pair.verifier));
  }
});

test('state carries 256 random bits and is independent of the verifier', async () => {
  const states = new Set(Array.from({ length: 50 }, () => createState()));
  assert.equal(states.size, 50);
  for (const state of states) assert.ok(Buffer.from(state, 'base64url').length >= 32);
});
