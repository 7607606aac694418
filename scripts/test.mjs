// `npm test`: installs the Debian packages the real-parts tests need when missing (chromium, gnome-keyring,
// dbus), builds, then runs every test/**/*.test.ts with node:test on this Node.js.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'helpers' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

if (run('bash', [join(root, 'scripts/ensure-system-deps.sh')]) !== 0) process.exit(1);
if (run(process.execPath, [join(root, 'scripts/build.mjs')]) !== 0) process.exit(1);

const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles(join(root, 'test')).sort();
const concurrency = process.env.LOGINKIT_TEST_CONCURRENCY ?? '2';
console.log(`Running ${files.length} test files on Node.js ${process.version}`);
process.exit(run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files]));
