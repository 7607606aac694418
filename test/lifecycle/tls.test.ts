// A token endpoint behind a certificate that Node does not trust (a self-signed one, as a company CA or an
// intercepting proxy would present): the refresh fails with a message that names the two settings that fix
// it, and succeeds once the certificate is given through NODE_EXTRA_CA_CERTS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NetworkError, createLoginkit } from '../../src/index.js';
import { makeHome, runCli, runCliProcess } from '../helpers/cli.js';
import { lines, readBody, readStoredEntries, seedStore, sendJson, tokenResponse } from './support.js';

const PROVIDER = 'demo';

describe('TLS to a server with a certificate Node does not trust', () => {
  let dir: string;
  let certFile: string;
  let server: Server;
  let endpoint: string;
  let refreshes = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loginkit-tls-'));
    certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '2',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-subj',
        '/CN=loginkit test CA',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      { stdio: 'ignore' },
    );
    server = createServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, (req, res) => {
      void readBody(req).then(() => {
        refreshes += 1;
        sendJson(res, 200, tokenResponse(`new-at-${refreshes}`, `new-rt-${refreshes}`));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `https://127.0.0.1:${address.port}/token`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const expiredHome = async (): Promise<string> => {
    const home = await makeHome();
    await seedStore(home, [
      { provider: PROVIDER, tokenEndpoint: endpoint, accessToken: 'old-at', refreshToken: 'old-rt', expiresInMs: -60_000 },
    ]);
    return home;
  };

  test('in process: a NetworkError that mentions NODE_EXTRA_CA_CERTS and HTTPS_PROXY', async () => {
    const home = await expiredHome();
    const client = createLoginkit({ home, env: { LOGINKIT_STORE: 'file' } });
    const before = refreshes;
    await assert.rejects(client.getToken(PROVIDER), (error: unknown) => {
      assert.ok(error instanceof NetworkError, String(error));
      assert.equal(error.code, 'network');
      assert.match(error.message, new RegExp(`TLS to 127\\.0\\.0\\.1:${new URL(endpoint).port}`));
      assert.match(error.message, /NODE_EXTRA_CA_CERTS/);
      assert.match(error.message, /HTTPS_PROXY/);
      return true;
    });
    assert.equal(refreshes, before, 'no request got through');
  });

  test('CLI: exit 1 with a short message naming the host and NODE_EXTRA_CA_CERTS', async () => {
    const home = await expiredHome();
    const run = await runCli(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file', NODE_EXTRA_CA_CERTS: undefined } });
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.ok(lines(run.stderr).length <= 2, run.stderr);
    assert.match(run.stderr, /127\.0\.0\.1:\d+/);
    assert.match(run.stderr, /NODE_EXTRA_CA_CERTS/);
  });

  test('CLI with NODE_EXTRA_CA_CERTS=<the certificate>: the refresh succeeds and is stored', async () => {
    const home = await expiredHome();
    const before = refreshes;
    // A process: Node reads NODE_EXTRA_CA_CERTS when it starts.
    const run = await runCliProcess(['token', PROVIDER], { home, env: { LOGINKIT_STORE: 'file', NODE_EXTRA_CA_CERTS: certFile } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(refreshes, before + 1);
    assert.equal(run.stdout, `new-at-${refreshes}\n`);
    assert.equal(run.stderr, '', 'no warning');
    assert.equal((await readStoredEntries(home))[`${PROVIDER}/default`]?.refreshToken, `new-rt-${refreshes}`);
  });
});
