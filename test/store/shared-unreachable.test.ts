// `store status` on a shared store whose database cannot be reached says so, instead of "not created yet".
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeHome, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/databases.js';

describe('store status with the shared store unreachable', () => {
  for (const scheme of ['postgres', 'redis'] as const) {
    test(`${scheme}: --json says unreachable, not "not created yet"`, async () => {
      const port = await freePort();
      const url = scheme === 'postgres' ? `postgres://fleet:db-pass@127.0.0.1:${port}/fleet` : `redis://:db-pass@127.0.0.1:${port}/0`;
      const home = await makeHome();
      const status = await runCli(['store', 'status', '--json'], { home, env: { LOGINKIT_STORE: url, LOGINKIT_STORE_TIMEOUT: '2' } });
      assert.equal(status.code, 1);
      const report = JSON.parse(status.stdout) as { exists: boolean | null; protection: string; problem: string };
      assert.equal(report.exists, null);
      assert.equal(report.protection, 'unreachable');
      assert.match(report.problem, /cannot be reached/);
      assert.ok(!status.stdout.includes('db-pass') && !status.stderr.includes('db-pass'));
      const text = await runCli(['store', 'status'], { home, env: { LOGINKIT_STORE: url, LOGINKIT_STORE_TIMEOUT: '2' } });
      assert.match(text.stdout, /unreachable/);
      assert.ok(!text.stdout.includes('not created yet'));
    });
  }
});
