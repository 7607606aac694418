import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointProblem, redirectUriProblem } from '../../src/providers/endpoints.js';

test('endpoints must be https except on loopback hosts', () => {
  assert.equal(endpointProblem('https://auth.example.com/oauth/token'), undefined);
  assert.equal(endpointProblem('http://127.0.0.1:8080/token'), undefined);
  assert.equal(endpointProblem('http://[::1]:8080/token'), undefined);
  assert.equal(endpointProblem('http://localhost/token'), undefined);
  assert.match(endpointProblem('http://auth.example.com/token') ?? '', /must use https/);
  assert.match(endpointProblem('http://127.0.0.1.nip.io/token') ?? '', /must use https/);
  assert.match(endpointProblem('ftp://example.com') ?? '', /must use https/);
  assert.match(endpointProblem('not a url') ?? '', /not a URL/);
  assert.match(endpointProblem('https://user:pw@example.com') ?? '', /credentials/);
});

test('redirect URIs must be loopback http with a path', () => {
  assert.equal(redirectUriProblem('http://127.0.0.1/callback'), undefined);
  assert.equal(redirectUriProblem('http://localhost:1455/auth/callback'), undefined);
  assert.match(redirectUriProblem('https://127.0.0.1/callback') ?? '', /loopback/);
  assert.match(redirectUriProblem('http://example.com/callback') ?? '', /loopback/);
  assert.match(redirectUriProblem('http://127.0.0.1/') ?? '', /path/);
  assert.match(redirectUriProblem('http://127.0.0.1/cb?x=1') ?? '', /query/);
});
