import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAccessTokenUsable, needsRefresh } from '../../src/session/credential.js';

const MINUTE = 60_000;

test('an hour-long token is refreshed when less than 5 minutes remain', () => {
  const token = { obtainedAt: 0, expiresAt: 60 * MINUTE };
  assert.equal(needsRefresh(token, 54 * MINUTE), false);
  assert.equal(needsRefresh(token, 55 * MINUTE + 1), true);
});

test('a short-lived token is refreshed when less than half its lifetime remains', () => {
  const token = { obtainedAt: 0, expiresAt: 4 * MINUTE };
  assert.equal(needsRefresh(token, 2 * MINUTE - 1), false);
  assert.equal(needsRefresh(token, 2 * MINUTE + 1), true);
});

test('an expired token always needs a refresh and is never usable', () => {
  const token = { obtainedAt: 0, expiresAt: 10_000 };
  assert.equal(needsRefresh(token, 10_000), true);
  assert.equal(needsRefresh(token, 20_000), true);
  assert.equal(isAccessTokenUsable(token, 10_000), false);
  assert.equal(isAccessTokenUsable(token, 9_500), false, 'within the clock-skew allowance counts as expired');
});

test('a token without expiry is used as is', () => {
  assert.equal(needsRefresh({ obtainedAt: 0, expiresAt: null }, 10 * 365 * 24 * 60 * MINUTE), false);
});
