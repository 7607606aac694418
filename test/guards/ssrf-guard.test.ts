// The SSRF guard that every server-named URL goes through (metadata, registration, token endpoints): the
// private ranges it knows, plain http only on loopback, what counts as localhost, and the document size cap.
// Host names resolve through the guard's injected resolver, so "resolves to a public address" needs no DNS.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type AddressPolicy, addressClass, checkUrl, createGuardedFetch, policyFor } from '../../src/net/guarded-fetch.js';

const PUBLIC_ADDRESS = '93.184.216.34';
const resolvesTo =
  (...addresses: string[]) =>
  async (): Promise<string[]> =>
    addresses;
const publicOnly: AddressPolicy = { allowLoopback: false, allowPrivate: false };
const everythingLocal: AddressPolicy = { allowLoopback: true, allowPrivate: true };

test('172.16.0.0/12 is private across its whole width, and 172.32.0.1 is past its end', async () => {
  assert.equal(addressClass('172.16.0.1'), 'private');
  assert.equal(addressClass('172.20.10.5'), 'private');
  assert.equal(addressClass('172.31.255.254'), 'private');
  assert.equal(addressClass('172.32.0.1'), 'public');
  assert.equal(addressClass('172.15.255.255'), 'public');
  // A host name resolving into the range is refused like the address itself.
  await assert.rejects(
    checkUrl(new URL('https://internal.example/token'), publicOnly, resolvesTo('172.20.10.5')),
    /internal\.example is a private address/,
  );
  await checkUrl(new URL('https://edge.example/token'), publicOnly, resolvesTo('172.32.0.1'));
});

test('plain http is refused for a host that resolves to a public address, whatever the policy allows', async () => {
  await assert.rejects(
    checkUrl(new URL('http://as.example/token'), everythingLocal, resolvesTo(PUBLIC_ADDRESS)),
    /Refusing to fetch http:\/\/as\.example\/token: plain http is allowed only on loopback/,
  );
  // Nor on a private network: only loopback never leaves the machine.
  await assert.rejects(checkUrl(new URL('http://10.0.0.7/token'), everythingLocal), /plain http is allowed only on loopback/);
  await checkUrl(new URL('https://as.example/token'), everythingLocal, resolvesTo(PUBLIC_ADDRESS));
  await checkUrl(new URL('http://127.0.0.1:8080/token'), everythingLocal);
});

test('a name that merely ends in "localhost" is not loopback: no loopback allowance, no plain http', async () => {
  const lookalike = new URL('https://notlocalhost/mcp');
  assert.deepEqual(await policyFor(lookalike, resolvesTo(PUBLIC_ADDRESS)), { allowLoopback: false, allowPrivate: false });
  await assert.rejects(
    checkUrl(new URL('http://notlocalhost/token'), everythingLocal, resolvesTo(PUBLIC_ADDRESS)),
    /plain http is allowed only on loopback/,
  );
  // The real thing and its subdomains (RFC 6761) are loopback without asking DNS.
  const unreachable = async (): Promise<string[]> => assert.fail('localhost names are never resolved');
  assert.deepEqual(await policyFor(new URL('http://localhost:3000/mcp'), unreachable), { allowLoopback: true, allowPrivate: false });
  assert.deepEqual(await policyFor(new URL('http://app.localhost/mcp'), unreachable), { allowLoopback: true, allowPrivate: false });
  await assert.rejects(checkUrl(new URL('http://app.localhost/token'), publicOnly, unreachable), /app\.localhost is a loopback address/);
});

test('a 1 MiB server-named document without content-length is refused at the cap (256 KiB)', async () => {
  const server = createServer((_req, res) => {
    // Chunked, no content-length: only counting the bytes as they come can stop it.
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    for (let i = 0; i < 16; i++) res.write(chunk);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const guarded = createGuardedFetch(fetch, { allowLoopback: true, allowPrivate: false });
    await assert.rejects(guarded(`${base}/.well-known/oauth-authorization-server`), (error: Error) => {
      assert.match(error.message, /sent more than 256 KiB for \/\.well-known\/oauth-authorization-server; refusing it/);
      return true;
    });
    // Under the cap the document comes through whole.
    const small = createServer((_req, res) => res.end(JSON.stringify({ issuer: 'x' })));
    await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
    try {
      const response = await guarded(`http://127.0.0.1:${(small.address() as AddressInfo).port}/`);
      assert.deepEqual(await response.json(), { issuer: 'x' });
    } finally {
      small.closeAllConnections();
      await new Promise<void>((resolve) => small.close(() => resolve()));
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
