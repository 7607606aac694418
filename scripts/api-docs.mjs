// `npm run docs:api`: the API reference in docs/api/, generated from the TSDoc comments of the built package
// (dist/index.d.ts) by API Extractor and API Documenter. They analyse with the TypeScript they bundle, so the
// project's own TypeScript version does not matter. `--check` writes to a temporary folder and exits 1 when
// docs/api/ differs from it (test/docs/api-reference.test.ts runs that), or when API Extractor reports a
// problem such as a type the entry point uses but does not export.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const check = process.argv.includes('--check');

const { Extractor, ExtractorConfig } = require('@microsoft/api-extractor');
const config = ExtractorConfig.loadFileAndPrepare(join(root, 'api-extractor.json'));
const problems = [];
// Types inferred from a zod schema (ProviderEntry, McpBinding) name the schema, which stays internal: the
// types themselves are exported, and the reference documents them from their shape.
const INTERNAL_SCHEMAS = new Set(['buildConfigSchema', 'McpBindingSchema']);
const result = Extractor.invoke(config, {
  localBuild: true,
  messageCallback(message) {
    const forgotten = message.messageId === 'ae-forgotten-export' && /"(\w+)"/.exec(message.text)?.[1];
    if ((message.logLevel === 'warning' || message.logLevel === 'error') && !(forgotten && INTERNAL_SCHEMAS.has(forgotten))) {
      problems.push(message.formatMessageWithLocation(root));
    }
    message.handled = true;
  },
});
if (!result.succeeded || problems.length > 0) {
  console.error(problems.join('\n') || 'API Extractor failed');
  process.exit(1);
}

const documenter = join(dirname(require.resolve('@microsoft/api-documenter/package.json')), 'bin/api-documenter');
const target = check ? mkdtempSync(join(tmpdir(), 'loginkit-api-')) : join(root, 'docs/api');
execFileSync(process.execPath, [documenter, 'markdown', '-i', dirname(config.apiJsonFilePath), '-o', target], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (check) {
  const differing = compareFolders(join(root, 'docs/api'), target);
  rmSync(target, { recursive: true, force: true });
  if (differing.length > 0) {
    console.error(`docs/api is out of date (${differing.slice(0, 5).join(', ')}): run npm run docs:api`);
    process.exit(1);
  }
}

function compareFolders(committed, generated) {
  const names = (dir) => {
    try {
      return readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  const all = new Set([...names(committed), ...names(generated)]);
  return [...all].filter((name) => {
    try {
      return readFileSync(join(committed, name), 'utf8') !== readFileSync(join(generated, name), 'utf8');
    } catch {
      return true;
    }
  });
}
