// MCP metadata discovery refuses what would send a person or a token to the wrong place: protected resource
// metadata for a sibling path, authorization server metadata naming another issuer on the same origin, and an
// authorization endpoint on plain http (the browser goes there; the guarded fetch never sees that URL).
import assert from 'node:assert/strict';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLoginkit } from '../../src/index.js';
import { createGuardedFetch } from '../../src/net/guarded-fetch.js';
import {
  McpDiscoveryError,
  checkServerMetadata,
  discoverAuthorizationServer,
  discoverResourceMetadata,
  resourceMatches,
} from '../../src/oauth/mcp-discovery.js';

type Documents = (base: string) => Record<string, unknown>;

/** A server on 127.0.0.1 serving JSON documents by path (404 otherwise), with a 401 challenge at each `mcpPaths`; records requests. */
async function startDocuments(
  documents: Documents,
  mcpPaths: readonly string[] = [],
): Promise<{ base: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  let base = '';
  const server: Server = createServer((req, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (mcpPaths.includes(path)) {
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource${path}"` });
      res.end();
      return;
    }
    const document = documents(base)[path];
    if (document === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(document));
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

const guarded = createGuardedFetch(fetch, { allowLoopback: true, allowPrivate: false });

/** A client whose sign-ins stop waiting for the person after 2 s (its openBrowser only records the URL). */
function recordingKit() {
  const opened: string[] = [];
  const kit = createLoginkit({
    store: 'memory',
    home: '/nonexistent-loginkit-home',
    env: {},
    timeoutMs: 5_000,
    openBrowser: async (url) => {
      opened.push(url);
    },
  });
  return { opened, mcp: (url: string) => kit.mcp(url, { timeoutMs: 2_000 }) };
}

const asMetadata = (issuer: string, base: string) => ({
  issuer,
  authorization_endpoint: `${base}/authorize`,
  token_endpoint: `${base}/token`,
  registration_endpoint: `${base}/register`,
  code_challenge_methods_supported: ['S256'],
});

const isReason = (reason: McpDiscoveryError['reason']) => (error: unknown) => {
  assert.ok(error instanceof McpDiscoveryError, String(error));
  assert.equal(error.reason, reason);
  return true;
};

test('a resource path matches segment-wise, never as a string prefix: /mcp is not /mcp-admin', async () => {
  assert.equal(resourceMatches('https://h.example/mcp', new URL('https://h.example/mcp-admin')), false);
  assert.equal(resourceMatches('https://h.example/mcp', new URL('https://h.example/mcpx/tools')), false);
  assert.equal(resourceMatches('https://h.example/mcp', new URL('https://h.example/mcp')), true);
  assert.equal(resourceMatches('https://h.example/mcp', new URL('https://h.example/mcp/tools')), true);
  assert.equal(resourceMatches('https://h.example/', new URL('https://h.example/mcp-admin')), true);

  // Discovery for the MCP server at /mcp-admin refuses metadata published for /mcp.
  const server = await startDocuments((base) => ({
    '/.well-known/oauth-protected-resource/mcp-admin': { resource: `${base}/mcp`, authorization_servers: [base] },
  }));
  try {
    await assert.rejects(discoverResourceMetadata(new URL(`${server.base}/mcp-admin`), undefined, guarded), isReason('resource_mismatch'));
  } finally {
    await server.close();
  }
});

test('authorization server metadata naming another issuer on the same origin is refused (tenant-b for tenant-a)', async () => {
  const server = await startDocuments(
    (base) => ({
      '/.well-known/oauth-authorization-server/tenant-a': asMetadata(`${base}/tenant-b`, base),
      '/.well-known/oauth-protected-resource/mcp': { resource: `${base}/mcp`, authorization_servers: [`${base}/tenant-a`] },
      '/register': { client_id: 'registered' },
    }),
    ['/mcp'],
  );
  try {
    await assert.rejects(
      discoverAuthorizationServer(`${server.base}/tenant-a`, guarded, { requirePkce: true }),
      isReason('issuer_mismatch'),
    );
    // Through a sign-in: refused before registration, nothing opened.
    const { opened, mcp } = recordingKit();
    await assert.rejects(
      mcp(`${server.base}/mcp`).login(),
      /names issuer http:\/\/127\.0\.0\.1:\d+\/tenant-b, not http:\/\/127\.0\.0\.1:\d+\/tenant-a/,
    );
    assert.deepEqual(opened, []);
    assert.ok(!server.seen.some((line) => line.startsWith('POST /register')), server.seen.join('\n'));
    // Only a 2025-03-26 server (no resource metadata: only its origin is known) vouches for an issuer on its origin.
    const legacy = await discoverAuthorizationServer(`${server.base}/tenant-a`, guarded, { requirePkce: true, legacyOrigin: true });
    assert.equal(legacy?.issuer, `${server.base}/tenant-b`);
  } finally {
    await server.close();
  }
});

test('an authorization_endpoint on plain http off loopback is refused before the browser is sent there', async () => {
  const withHttpAuthorize = {
    ...asMetadata('https://as.example', 'https://as.example'),
    authorization_endpoint: 'http://as.example/authorize',
  };
  assert.throws(
    () => checkServerMetadata(withHttpAuthorize, { requirePkce: true }),
    (error: unknown) => {
      isReason('bad_metadata')(error);
      assert.match(String(error), /its authorization_endpoint must use https/);
      return true;
    },
  );
  checkServerMetadata({ ...withHttpAuthorize, authorization_endpoint: 'https://as.example/authorize' }, { requirePkce: true });
  checkServerMetadata({ ...withHttpAuthorize, authorization_endpoint: 'http://127.0.0.1:9/authorize' }, { requirePkce: true });

  // Through a sign-in: everything else about the server is fine, yet no browser opens on the http URL.
  const server = await startDocuments(
    (base) => ({
      '/.well-known/oauth-protected-resource/mcp': { resource: `${base}/mcp`, authorization_servers: [base] },
      '/.well-known/oauth-authorization-server': { ...asMetadata(base, base), authorization_endpoint: 'http://as.example/authorize' },
      '/register': { client_id: 'registered' },
    }),
    ['/mcp'],
  );
  try {
    const { opened, mcp } = recordingKit();
    await assert.rejects(mcp(`${server.base}/mcp`).login(), /its authorization_endpoint must use https/);
    assert.deepEqual(opened, []);
  } finally {
    await server.close();
  }
});
