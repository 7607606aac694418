// A hostile neighbour floods the sign-in callback listener with idle connections. Each accepted connection is a
// file descriptor of the process signing in; unbounded, they use up its descriptors, and the code exchange that
// follows the callback fails ("Cannot reach …", EMFILE) or the process dies on a failed accept. The neighbour is
// a separate process; this one's descriptor limit is lowered (prlimit) so that a few hundred connections matter.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { createLoginkit } from '../../src/index.js';
import { toNetworkError } from '../../src/net/http.js';
import { MAX_LISTENER_CONNECTIONS } from '../../src/sign-in/loopback.js';
import { makeHome } from '../helpers/cli.js';
import { type ScriptedAuthServer, approvingBrowser, startScriptedAuthServer } from '../helpers/scripted-auth-server.js';

const FLOOD = 300;
/** Descriptors this process may open beyond those it holds when the flood starts: far fewer than the flood. */
const HEADROOM = MAX_LISTENER_CONNECTIONS + 48;

// The neighbour: reads the authorization URL, opens FLOOD idle connections to the callback port, then plays the
// browser (follows the URL to the callback and the done page) while they stay open, and reports.
const NEIGHBOUR = `
const net = require('node:net');
const readline = require('node:readline');
readline.createInterface({ input: process.stdin }).once('line', async (url) => {
  const port = Number(new URL(new URL(url).searchParams.get('redirect_uri')).port);
  const sockets = [];
  let closedByListener = 0;
  await new Promise((resolve) => {
    let settled = 0;
    for (let i = 0; i < ${FLOOD}; i++) {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => { closedByListener += 1; });
      const done = () => { if (++settled === ${FLOOD}) resolve(); };
      socket.once('connect', done);
      socket.once('error', done);
    }
  });
  let report;
  try {
    const page = await fetch(url);
    report = { status: page.status, finalUrl: page.url, closedByListener };
  } catch (error) {
    report = { error: String(error && error.cause || error), closedByListener };
  }
  process.stdout.write(JSON.stringify(report) + '\\n');
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
`;

function startNeighbour(): { child: ChildProcessWithoutNullStreams; report: Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, ['-e', NEIGHBOUR], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  const report = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () =>
      out.trim() ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error('the neighbour reported nothing')),
    );
  });
  return { child, report };
}

/**
 * Lowers this process's soft limit on open files (util-linux's prlimit) and returns how to restore it. The
 * restoring prlimit is started beforehand and only waits for a line: once descriptors run out (the failure
 * this test guards against), starting a process would fail too.
 */
function lowerOpenFilesLimit(soft: number): () => Promise<void> {
  const pid = String(process.pid);
  const hard = execFileSync('prlimit', ['--pid', pid, '--nofile', '--output', 'HARD', '--noheadings'], { encoding: 'utf8' }).trim();
  const restorer = spawn('sh', ['-c', `read line; exec prlimit --pid ${pid} --nofile=${hard}:${hard}`], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  const restored = new Promise<void>((resolve) => restorer.on('close', () => resolve()));
  execFileSync('prlimit', ['--pid', pid, `--nofile=${soft}:${hard}`]);
  return async () => {
    restorer.stdin.end('restore\n');
    await restored;
  };
}

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('the callback listener under a connection flood', { skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' }, () => {
  let server: ScriptedAuthServer;
  before(async () => {
    server = await startScriptedAuthServer();
  });
  after(async () => {
    await server.close();
  });

  test(
    'a flood of idle connections to the listener leaves the descriptors the code exchange needs; the real callback completes',
    { timeout: 120_000 },
    async () => {
      const home = await makeHome();
      const warmUp = createLoginkit({ home, store: 'memory', env: {}, openBrowser: approvingBrowser });
      await warmUp.addProvider('demo', { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
      // Loads every module and warms the connection pool first, so that the lowered limit only meets the flood.
      await warmUp.login('demo', { method: 'browser' });

      const neighbour = startNeighbour();
      const kit = createLoginkit({
        home,
        store: 'memory',
        env: {},
        openBrowser: async (url) => void neighbour.child.stdin.write(`${url}\n`),
      });
      const tokenRequestsBefore = server.requests.filter((r) => r.path === '/token').length;
      const restoreLimit = lowerOpenFilesLimit(readdirSync('/proc/self/fd').length + HEADROOM);
      let login: Awaited<ReturnType<typeof kit.login>> | Error;
      let report: Record<string, unknown>;
      try {
        login = await kit.login('demo', { method: 'browser', timeoutMs: 20_000 }).catch((error: Error) => error);
        if (login instanceof Error) neighbour.child.kill();
        report = await neighbour.report.catch((error: Error) => ({ error: error.message }));
      } finally {
        neighbour.child.kill();
        await restoreLimit();
      }

      assert.ok(!(login instanceof Error), `the sign-in failed: ${String(login)}`);
      assert.equal(login.provider, 'demo');
      assert.equal(report.status, 200, JSON.stringify(report));
      assert.match(String(report.finalUrl), /\/loginkit\/done$/);
      assert.equal(server.requests.filter((r) => r.path === '/token').length, tokenRequestsBefore + 1, 'one code exchange');
      assert.ok(
        Number(report.closedByListener) >= FLOOD - MAX_LISTENER_CONNECTIONS,
        `the listener let go of idle connections: ${JSON.stringify(report)}`,
      );
    },
  );
});

describe('running out of descriptors is named as such', () => {
  for (const [code, who] of [
    ['EMFILE', 'this process'],
    ['ENFILE', 'the system'],
  ] as const) {
    test(`${code} on connecting is "too many open files", not an unreachable host`, () => {
      // What undici throws when the socket cannot be created.
      const failure = new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code}`), { code }) });
      const error = toNetworkError(new URL('https://auth.example.test/token'), failure, false, 30_000);
      assert.equal(error.code, 'network');
      assert.match(error.message, new RegExp(`^Cannot connect to auth\\.example\\.test: ${who} has too many open files \\(${code}\\)`));
      assert.doesNotMatch(error.message, /connection or proxy settings/);
    });
  }
});
