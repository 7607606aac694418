// What loginkit refuses to do for an MCP server, each with a clear message and no request to the forbidden
// place: a protected resource naming another resource, an authorization server whose metadata names another
// issuer, no PKCE S256, metadata URLs on link-local or private addresses, a registration for another issuer,
// refresh and revocation endpoints on such addresses.
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLoginkit, type LoginkitOptions } from '../../src/index.js';
import { addressClass, checkUrl, createGuardedFetch } from '../../src/net/guarded-fetch.js';
import { bearerChallenge, parseWwwAuthenticate } from '../../src/oauth/www-authenticate.js';

type Handler = (req: IncomingMessage, res: ServerResponse, base: string) => void;

/** One HTTP server on 127.0.0.1 that plays MCP server and authorization server, recording every path asked for. */
async function startServer(handler: Handler): Promise<{ base: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res, base);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An MCP server at /mcp that wants a token, with PRM and AS metadata the test shapes. */
function mcpHandler(shape: {
  prm?: (base: string) => unknown;
  as?: (base: string) => unknown;
  register?: (base: string) => unknown;
  challenge?: (base: string) => string;
}): Handler {
  return (req, res, base) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/mcp') {
      res.writeHead(401, {
        'www-authenticate': shape.challenge?.(base) ?? `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
      });
      res.end();
    } else if (path === '/.well-known/oauth-protected-resource/mcp' && shape.prm) {
      json(res, shape.prm(base));
    } else if (path === '/.well-known/oauth-authorization-server' && shape.as) {
      json(res, shape.as(base));
    } else if (path === '/register' && shape.register) {
      json(res, shape.register(base), 201);
    } else {
      res.writeHead(404);
      res.end();
    }
  };
}

const goodPrm = (base: string) => ({ resource: `${base}/mcp`, authorization_servers: [base] });
const goodAs = (base: string) => ({
  issuer: base,
  authorization_endpoint: `${base}/authorize`,
  token_endpoint: `${base}/token`,
  registration_endpoint: `${base}/register`,
  code_challenge_methods_supported: ['S256'],
});

// Every refusal here happens before the browser step; a regression that gets past it must fail in seconds,
// not wait the default 300 s for a person who never comes (the openBrowser below only records the URL).
const PERSON_WAIT_MS = 2_000;
const HTTP_TIMEOUT_MS = 5_000;

/** A client whose sign-ins give up on the person after {@link PERSON_WAIT_MS}; `opened` records what the browser was given. */
function kit(extra: Partial<LoginkitOptions> = {}) {
  const opened: string[] = [];
  const client = createLoginkit({
    store: 'memory',
    home: '/nonexistent-loginkit-home',
    env: {},
    timeoutMs: HTTP_TIMEOUT_MS,
    openBrowser: async (url) => {
      opened.push(url);
    },
    ...extra,
  });
  return { opened, mcp: (url: string) => client.mcp(url, { timeoutMs: PERSON_WAIT_MS }) };
}

test('a protected resource that names another resource stops before any authorization request', async () => {
  const server = await startServer(
    mcpHandler({
      prm: () => ({ resource: 'https://evil.example.com/mcp', authorization_servers: ['https://evil.example.com'] }),
      as: goodAs,
    }),
  );
  try {
    const { mcp, opened } = kit();
    await assert.rejects(mcp(`${server.base}/mcp`).login(), (error: Error) => {
      assert.match(error.message, /published metadata for another resource \(https:\/\/evil\.example\.com\/mcp\); refusing to authorize/);
      return true;
    });
    assert.deepEqual(opened, []);
    assert.ok(
      !server.seen.some((line) => line.includes('oauth-authorization-server') || line.includes('/register') || line.includes('/authorize')),
      server.seen.join('\n'),
    );
  } finally {
    await server.close();
  }
});

test('authorization server metadata naming another issuer is refused; nothing is registered or opened', async () => {
  const server = await startServer(
    mcpHandler({ prm: goodPrm, as: (base) => ({ ...goodAs(base), issuer: 'https://attacker.example.com' }) }),
  );
  try {
    const { mcp, opened } = kit();
    await assert.rejects(
      mcp(`${server.base}/mcp`).login(),
      /names issuer https:\/\/attacker\.example\.com, not http:\/\/127\.0\.0\.1:\d+; refusing it \(RFC 8414 §3\.3\)/,
    );
    assert.deepEqual(opened, []);
    assert.ok(!server.seen.some((line) => line.startsWith('POST /register')), server.seen.join('\n'));
  } finally {
    await server.close();
  }
});

test('an authorization server that does not list S256 is refused before registration', async () => {
  const server = await startServer(
    mcpHandler({ prm: goodPrm, as: (base) => ({ ...goodAs(base), code_challenge_methods_supported: ['plain'] }) }),
  );
  try {
    const { mcp, opened } = kit();
    await assert.rejects(mcp(`${server.base}/mcp`).login(), /does not list PKCE with S256 .*refusing to sign in there/);
    assert.deepEqual(opened, []);
    assert.ok(!server.seen.some((line) => line.startsWith('POST /register')), server.seen.join('\n'));
  } finally {
    await server.close();
  }
});

for (const [kind, address] of [
  ['link-local (cloud metadata service)', '169.254.169.254'],
  ['private', '10.0.0.7'],
] as const) {
  test(`a resource_metadata URL on a ${kind} address is never fetched`, async () => {
    const server = await startServer(mcpHandler({ challenge: () => `Bearer resource_metadata="http://${address}/latest/meta-data/"` }));
    const requested: string[] = [];
    try {
      const { mcp } = kit({
        fetch: async (input, init) => {
          requested.push(String(input));
          return fetch(input, init);
        },
      });
      await assert.rejects(mcp(`${server.base}/mcp`).login(), (error: Error) => {
        assert.match(
          error.message,
          new RegExp(
            `Refusing to fetch http://${address.replaceAll('.', '\\.')}/latest/meta-data/: ${address.replaceAll('.', '\\.')} is a (link-local|private) address`,
          ),
        );
        return true;
      });
      assert.deepEqual(
        requested.filter((url) => url.includes(address)),
        [],
      );
    } finally {
      await server.close();
    }
  });
}

test('the guarded fetch re-checks every redirect and refuses one into a private network', async () => {
  const server = await startServer((_req, res) => {
    res.writeHead(302, { location: 'http://192.168.1.1/admin' });
    res.end();
  });
  try {
    const guarded = createGuardedFetch(fetch, { allowLoopback: true, allowPrivate: false });
    await assert.rejects(
      guarded(`${server.base}/.well-known/oauth-protected-resource`),
      /Refusing to fetch http:\/\/192\.168\.1\.1\/admin: 192\.168\.1\.1 is a private address/,
    );
    assert.equal(server.seen.length, 1);
  } finally {
    await server.close();
  }
});

test('address classes and policies', async () => {
  assert.equal(addressClass('169.254.169.254'), 'link-local');
  assert.equal(addressClass('::ffff:10.1.2.3'), 'private');
  assert.equal(addressClass('fe80::1'), 'link-local');
  assert.equal(addressClass('127.0.0.1'), 'loopback');
  assert.equal(addressClass('8.8.8.8'), 'public');
  const resolveTo = (address: string) => async () => [address];
  // A host name that resolves to a metadata address is refused like the address itself.
  await assert.rejects(
    checkUrl(new URL('https://metadata.example/'), { allowLoopback: true, allowPrivate: true }, resolveTo('169.254.169.254')),
    /link-local/,
  );
  await assert.rejects(
    checkUrl(new URL('https://internal.example/'), { allowLoopback: false, allowPrivate: false }, resolveTo('10.0.0.1')),
    /private/,
  );
  await checkUrl(new URL('https://public.example/'), { allowLoopback: false, allowPrivate: false }, resolveTo('93.184.216.34'));
  await assert.rejects(checkUrl(new URL('http://localhost/x'), { allowLoopback: false, allowPrivate: false }), /loopback/);
});

test('a registration response for another issuer is refused and not stored; no authorization follows', async () => {
  const server = await startServer(
    mcpHandler({ prm: goodPrm, as: goodAs, register: () => ({ client_id: 'c1', issuer: 'https://other-as.example.com' }) }),
  );
  try {
    const { mcp, opened } = kit();
    await assert.rejects(
      mcp(`${server.base}/mcp`).login(),
      /The client registration answered for http:\/\/127\.0\.0\.1:\d+ names another issuer \(https:\/\/other-as\.example\.com\); refusing it/,
    );
    assert.deepEqual(opened, []);
    assert.ok(!server.seen.some((line) => line.startsWith('GET /authorize') || line.startsWith('POST /token')));
  } finally {
    await server.close();
  }
});

test('WWW-Authenticate: several challenges, quoted strings and escapes (RFC 9110)', () => {
  const header =
    'Basic realm="a, b", Bearer error="insufficient_scope", scope="files:read  files:write", resource_metadata="https://x.example/.well-known/oauth-protected-resource/mcp", error_description="say \\"hi\\"", Negotiate abc123==';
  const challenges = parseWwwAuthenticate(header);
  assert.deepEqual(
    challenges.map((c) => c.scheme),
    ['Basic', 'Bearer', 'Negotiate'],
  );
  assert.equal(challenges[0]?.params.realm, 'a, b');
  assert.equal(challenges[1]?.params.error_description, 'say "hi"');
  const bearer = bearerChallenge({ headers: new Headers({ 'www-authenticate': header }) });
  assert.deepEqual(bearer?.scopes, ['files:read', 'files:write']);
  assert.equal(bearer?.error, 'insufficient_scope');
  assert.equal(bearer?.resourceMetadata, 'https://x.example/.well-known/oauth-protected-resource/mcp');
  assert.equal(bearerChallenge({ headers: new Headers({ 'www-authenticate': 'Bearer' }) })?.error, undefined);
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="unterminated'), [{ scheme: 'Bearer', params: {} }]);
  assert.equal(
    bearerChallenge({ headers: new Headers({ 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"' }) })?.error,
    'use_dpop_nonce',
  );
});

test('refresh and revocation of an MCP credential are SSRF-guarded: endpoints on link-local or private addresses are never called', async () => {
  const { createMemoryStore } = await import('../../src/store/memory-store.js');
  const { serializeCredential, toCredential } = await import('../../src/session/credential.js');
  const store = createMemoryStore();
  const serverUrl = 'http://127.0.0.1:9/mcp';
  // As if the authorization server's metadata had named a cloud metadata service and an internal host.
  const credential = toCredential(
    {
      provider: 'mcp-seeded',
      profile: 'default',
      clientId: 'client-1',
      server: {
        issuer: 'http://127.0.0.1:9',
        token_endpoint: 'http://169.254.169.254/token',
        revocation_endpoint: 'http://10.0.0.7/revoke',
      },
      mcp: { serverUrl, resource: serverUrl, grant: 'authorization_code', authMethod: 'none' },
    },
    {
      accessToken: 'stale-access',
      refreshToken: 'seeded-refresh',
      idToken: undefined,
      tokenType: 'bearer',
      scopes: ['read'],
      expiresAt: Date.now() - 1_000,
      obtainedAt: Date.now() - 3_600_000,
      account: { subject: 'seeded' },
    },
  );
  await store.update(() => ({
    mcp: { [`server:${encodeURIComponent(serverUrl)}`]: 'mcp-seeded', 'mcp-seeded/default': serializeCredential(credential) },
  }));
  const requested: string[] = [];
  const kit = createLoginkit({
    store,
    home: '/nonexistent-loginkit-home',
    env: {},
    timeoutMs: HTTP_TIMEOUT_MS,
    fetch: async (input, init) => {
      requested.push(String(input));
      return fetch(input, init);
    },
  });
  const mcp = kit.mcp(serverUrl, { interactive: false });
  await assert.rejects(mcp.token(), /Refusing to fetch http:\/\/169\.254\.169\.254\/token: 169\.254\.169\.254 is a link-local address/);
  const logout = await mcp.logout();
  assert.equal(logout.revocation, 'failed');
  assert.match(logout.revocationError ?? '', /10\.0\.0\.7 is a private address/);
  assert.deepEqual(requested, [], 'no request left loginkit');
});
