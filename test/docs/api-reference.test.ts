// The API reference in docs/api/ is generated from the TSDoc comments of the built package: it must be the
// one the current sources make, and API Extractor must find nothing wrong with the public API (every type
// an export uses is exported too, every {@link} resolves).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('docs/api is the reference the TSDoc comments of the built package make, and the public API names only exported types', () => {
  const run = spawnSync(process.execPath, ['scripts/api-docs.mjs', '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});
