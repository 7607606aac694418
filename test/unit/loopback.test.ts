import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { type RejectionReason, bindLoopbackListener } from '../../src/oauth/loopback.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, path: string, options: { method?: string; host?: string; address?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.address ?? '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? `127.0.0.1:${port}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function portOf(redirectUri: string): number {
  return Number(new URL(redirectUri).port);
}

test('only GET on the exact path, with the exact Host and exactly one matching state, gets through', async () => {
  const rejections: RejectionReason[] = [];
  const listener = await bindLoopbackListener({
    redirectUri: 'http://127.0.0.1/callback',
    expectedState: 'expected-state-value',
    onRejected: (reason) => rejections.push(reason),
  });
  const port = portOf(listener.redirectUri);
  assert.ok(port > 0, 'an ephemeral port was bound');
  let settled = false;
  void listener.callback.then(() => (settled = true));

  assert.equal((await send(port, '/callback?state=expected-state-value&code=x', { method: 'POST' })).status, 405);
  assert.equal((await send(port, '/other?state=expected-state-value&code=x')).status, 404);
  assert.equal((await send(port, '/callback?state=expected-state-value&code=x', { host: `evil.example:${port}` })).status, 421);
  assert.equal((await send(port, '/callback?state=expected-state-value&code=x', { host: `localhost:${port}` })).status, 421);
  assert.equal((await send(port, '/callback?code=x')).status, 400);
  assert.equal((await send(port, '/callback?state=wrong&code=x')).status, 400);
  assert.equal((await send(port, '/callback?state=expected-state-valuX&code=x')).status, 400);
  assert.equal((await send(port, '/callback?state=expected-state-value-longer&code=x')).status, 400);
  assert.equal((await send(port, '/callback?state=expected-state-value&state=expected-state-value&code=x')).status, 400);
  const rejected = await send(port, '/callback?state=wrong');
  assert.equal(rejected.headers['access-control-allow-origin'], undefined, 'no CORS headers');
  assert.equal(settled, false, 'the login keeps waiting after rejected requests');
  assert.deepEqual(rejections.slice(0, 9), [
    'method',
    'path',
    'host',
    'host',
    'state_missing',
    'state_mismatch',
    'state_mismatch',
    'state_mismatch',
    'state_repeated',
  ]);

  const held = send(port, '/callback?state=expected-state-value&code=the-code&iss=x');
  const url = await listener.callback;
  assert.equal(url.searchParams.get('code'), 'the-code');
  assert.equal(`${url.origin}${url.pathname}`, listener.redirectUri);

  const finishing = listener.finish('done');
  const redirect = await held;
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.location, '/loginkit/done');
  const done = await send(port, '/loginkit/done');
  assert.equal(done.status, 200);
  assert.equal(done.headers['cache-control'], 'no-store');
  assert.equal(done.headers['referrer-policy'], 'no-referrer');
  assert.match(String(done.headers['content-security-policy']), /default-src 'none'/);
  assert.doesNotMatch(done.body, /the-code/);
  assert.doesNotMatch(done.body, /https?:\/\//, 'no third-party resources');
  await finishing;
  await assert.rejects(send(port, '/loginkit/done'), /ECONNREFUSED/, 'the listener is closed afterwards');
});

test('a second valid callback is refused: the state is single use', async () => {
  const listener = await bindLoopbackListener({ redirectUri: 'http://127.0.0.1/cb', expectedState: 's' });
  const port = portOf(listener.redirectUri);
  const first = send(port, '/cb?state=s&code=1');
  await listener.callback;
  const second = await send(port, '/cb?state=s&code=2');
  assert.equal(second.status, 400);
  await listener.finish('done');
  assert.equal((await first).status, 302);
});

test('binds loopback only, never another interface', async () => {
  const listener = await bindLoopbackListener({ redirectUri: 'http://127.0.0.1/callback', expectedState: 's' });
  const port = portOf(listener.redirectUri);
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal);
  if (external) {
    await assert.rejects(send(port, '/callback?state=s', { address: external.address }), /ECONNREFUSED/);
  }
  await listener.close();
});

test('localhost redirect binds both 127.0.0.1 and ::1 on the same port, and a fixed busy port is a clear error', async () => {
  const listener = await bindLoopbackListener({ redirectUri: 'http://localhost/callback', expectedState: 's' });
  const port = portOf(listener.redirectUri);
  assert.match(listener.redirectUri, /^http:\/\/localhost:\d+\/callback$/);
  const v4 = await send(port, '/nope', { host: `localhost:${port}` });
  assert.equal(v4.status, 404);
  const v6 = await send(port, '/nope', { host: `localhost:${port}`, address: '::1' }).catch((error: Error) => error);
  if (!(v6 instanceof Error && /EADDRNOTAVAIL|EAFNOSUPPORT|ENETUNREACH/.test(v6.message))) {
    assert.equal((v6 as Reply).status, 404);
  }
  await assert.rejects(
    bindLoopbackListener({ redirectUri: `http://127.0.0.1:${port}/callback`, expectedState: 's' }),
    (error: Error & { code?: string }) => error.code === 'configuration' && /in use/.test(error.message),
  );
  await listener.close();
});

test('junk and half-open connections do not crash the listener', async () => {
  const listener = await bindLoopbackListener({ redirectUri: 'http://127.0.0.1/callback', expectedState: 's' });
  const port = portOf(listener.redirectUri);
  await new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('\u0000\u0001 NOT HTTP AT ALL\r\n\r\n'));
    let answer = '';
    socket.on('data', (chunk) => (answer += String(chunk)));
    socket.on('close', () => {
      assert.match(answer, /^HTTP\/1\.1 400/);
      resolve();
    });
    socket.on('error', () => resolve());
  });
  const halfOpen = connect(port, '127.0.0.1', () => halfOpen.write('GET /callback?state=s HTTP/1.1\r\n'));
  halfOpen.on('error', () => undefined);
  assert.equal((await send(port, '/elsewhere')).status, 404, 'still answering');
  await listener.close();
  halfOpen.destroy();
});
