// Store URLs may carry a password in the query string (`?password=`, which pg, ioredis and libpq all take):
// it is masked wherever `user:password@` is, scrubbed from database messages, and a LOGINKIT_STORE that
// carries one never reaches a child.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childEnvironment } from '../../src/shared/child-env.js';
import { maskUrlCredentials, urlSecrets } from '../../src/shared/mask.js';
import { scrub, targetOf } from '../../src/store/shared-errors.js';

const QUERY_FORMS = [
  'postgres://fleet@db.example/fleet?password=s3cret-value',
  'postgres://db.example/fleet?sslmode=require&PASSWORD=s3cret-value',
  'postgresql://db.example/fleet?sslpassword=s3cret-value',
  'redis://db.example:6379/0?password=s3cret-value',
  'redis://db.example:6379/0?pass=s3cret-value',
  'rediss://db.example:6379/0?sentinelPassword=s3cret-value',
  'redis://db.example:6379/0?pwd=s3cret-value&family=6',
];

test('a password given as a query parameter is masked like user:password@, the rest of the URL kept', () => {
  for (const url of [...QUERY_FORMS, 'postgres://fleet:s3cret-value@db.example/fleet']) {
    const shown = maskUrlCredentials(url);
    assert.ok(!shown.includes('s3cret-value'), shown);
    assert.match(shown, /\*\*\*/);
    assert.match(shown, /db\.example/);
    assert.deepEqual(urlSecrets(url), ['s3cret-value'], url);
  }
  assert.equal(maskUrlCredentials('postgres://db.example/fleet?sslmode=require'), 'postgres://db.example/fleet?sslmode=require');
  assert.equal(
    maskUrlCredentials('redis://db.example:6379/0?password=s3cret-value&family=6'),
    'redis://db.example:6379/0?password=***&family=6',
  );
});

test('database messages are scrubbed of a query-parameter password, plain or escaped', () => {
  const target = targetOf(new URL('postgres://db.example/fleet?password=p%40ss%2Fword'), 'postgres://db.example/fleet?password=***', 1000);
  assert.equal(scrub('auth failed for p@ss/word (p%40ss%2Fword)', target), 'auth failed for *** (***)');
});

test('a LOGINKIT_STORE carrying a password in its query never reaches a child; one without a secret does', () => {
  for (const url of QUERY_FORMS) assert.equal(childEnvironment({ LOGINKIT_STORE: url }).LOGINKIT_STORE, undefined, url);
  assert.equal(
    childEnvironment({ LOGINKIT_STORE: 'redis://db.example:6379/0?family=6' }).LOGINKIT_STORE,
    'redis://db.example:6379/0?family=6',
  );
  const env = childEnvironment({ PGPASSWORD: 'x', PGPASSFILE: '/p', PGSERVICEFILE: '/s', REDISCLI_AUTH: 'y', PGHOST: 'db.example' });
  assert.deepEqual(env, { PGHOST: 'db.example' });
});
