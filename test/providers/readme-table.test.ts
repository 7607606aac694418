import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

test("the providers guide's table is the one generated from the registry", () => {
  const root = new URL('../../', import.meta.url);
  const generated = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/providers-table.mjs'], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
  const readme = readFileSync(new URL('docs/providers.md', root), 'utf8');
  const section = /<!-- providers:start -->\n([\s\S]*?)\n<!-- providers:end -->/.exec(readme)?.[1];
  assert.equal(section, generated, 'regenerate it: node --import tsx scripts/providers-table.mjs');
});
