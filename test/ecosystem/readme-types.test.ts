// Every TypeScript example of the README (and docs/) type-checks in a consumer's project with today's
// defaults: the package as `npm pack` makes it, installed into a fresh folder, compiled by TypeScript 7 and
// 5.x with the tsconfig.json `tsc --init` writes (`strict`, `exactOptionalPropertyTypes`, `nodenext`), as an
// ES module and as CommonJS (`nodenext`, and the `commonjs` module of older `tsc --init`s, which reads
// `types`/`main` rather than `exports`). Needs `npm run build` first (as the CLI-process tests do).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The repository itself, also when this file runs from the compiled mirror (whose package.json is a link to it).
const ROOT = dirname(realpathSync(join(dirname(fileURLToPath(import.meta.url)), '../../package.json')));
const run = promisify(execFile);

/** What `tsc --init` of TypeScript 7 writes (and 5.9 too), less what concerns emitting only. */
const INIT_OPTIONS = {
  module: 'nodenext',
  target: 'esnext',
  types: [],
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  strict: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  noUncheckedSideEffectImports: true,
  moduleDetection: 'force',
  skipLibCheck: true,
  noEmit: true,
};

/** The projects compiled: an ES module package, and a CommonJS one both ways (without `verbatimModuleSyntax`,
 * which forbids `import` in a CommonJS file). */
const PROJECTS: Record<string, { folder: 'esm' | 'cjs'; options: object }> = {
  'ES module, tsc --init': { folder: 'esm', options: INIT_OPTIONS },
  'CommonJS, nodenext': { folder: 'cjs', options: { ...INIT_OPTIONS, verbatimModuleSyntax: false } },
  'CommonJS, module commonjs': {
    folder: 'cjs',
    options: {
      module: 'commonjs',
      target: 'es2016',
      esModuleInterop: true,
      forceConsistentCasingInFileNames: true,
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: true,
      noEmit: true,
    },
  },
};

/**
 * What the examples leave to the reader's application: declared here, with the types an application
 * would give them, so that the examples themselves are compiled exactly as shown.
 */
const APPLICATION = `import type { LoginEvent, Loginkit } from 'loginkit';
declare global {
  const kit: Loginkit;
  function hidePasteField(): void;
  function showPasteField(): void;
  const ui: { render(event: LoginEvent): void; askToSignIn(providerId: string): void };
  function myOpener(url: string): Promise<void>;
  const abortController: AbortController;
  function showProgress(event: LoginEvent): void;
  const url: string;
  const privateKeyPem: string;
  function readFile(path: string, encoding: 'utf8'): Promise<string>;
  const clientId: string;
  const clientSecret: string;
  const idpTokenEndpoint: string;
  const idpIdToken: string;
  const idpClientId: string;
  const maybeText: string | undefined;
  const maybeMs: number | undefined;
}
export {};
`;

/**
 * Beyond the README: an application passes on settings it may not have (flags, variables). Under
 * `exactOptionalPropertyTypes` that compiles only where the option's type says `| undefined` too.
 */
const FORWARDED_OPTIONS = `import { createLoginkit } from 'loginkit';

const kit = createLoginkit({ home: maybeText, timeoutMs: maybeMs, cwd: maybeText, onEvent: undefined });
await kit.login('acme', { profile: maybeText, timeoutMs: maybeMs, quiet: undefined, signal: undefined });
await kit.loginWithApiKey('openai', 'sk-proj-example', { profile: maybeText, verify: undefined });
await kit.getToken('acme', { profile: maybeText, source: undefined });
await kit.status('acme', { profile: maybeText });
`;

/** Every ```ts block of README.md and docs/*.md, with where it starts (and the forwarded options above). */
async function examples(): Promise<Array<{ where: string; code: string }>> {
  const docs = existsSync(join(ROOT, 'docs')) ? (await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')) : [];
  const found: Array<{ where: string; code: string }> = [];
  for (const file of ['README.md', ...docs.map((name) => `docs/${name}`)]) {
    const text = await readFile(join(ROOT, file), 'utf8');
    for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      const line = text.slice(0, match.index).split('\n').length;
      found.push({ where: `${file}:${line}`, code: match[1] as string });
    }
  }
  return [...found, { where: 'forwarded options (readme-types.test.ts)', code: FORWARDED_OPTIONS }];
}

/** The example as a CommonJS module: imports stay on top, the rest runs in an async function (no top-level await there). */
function asCommonJs(code: string): string {
  const lines = code.split('\n');
  const imports = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import '));
  return `${imports.join('\n')}\nexport async function main(): Promise<void> {\n${body.join('\n')}\n}\n`;
}

/** A folder with node_modules as `npm install <tarball>` leaves it: loginkit from `npm pack`, the rest beside it. */
async function consumerFolder(): Promise<string> {
  assert.ok(existsSync(join(ROOT, 'dist/index.d.ts')), 'dist/ is missing: run `npm run build` first');
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-consumer-'));
  const modules = join(dir, 'node_modules');
  await mkdir(modules);
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>;
  await run('tar', ['-xzf', join(dir, filename), '-C', modules]);
  await rename(join(modules, 'package'), join(modules, 'loginkit'));
  // Its dependencies and the SDKs the examples use, as npm would have installed them.
  for (const name of await readdir(join(ROOT, 'node_modules'))) {
    if (name === 'loginkit' || name.startsWith('.')) continue;
    await symlink(join(ROOT, 'node_modules', name), join(modules, name));
  }
  return dir;
}

describe('the README examples compile in a fresh consumer project against the packed package', () => {
  let dir: string;
  let count = 0;

  before(async () => {
    dir = await consumerFolder();
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await writeFile(join(dir, 'application.d.ts'), APPLICATION);
    await mkdir(join(dir, 'esm'));
    await mkdir(join(dir, 'cjs'));
    await writeFile(join(dir, 'cjs/package.json'), JSON.stringify({ type: 'commonjs' }));
    for (const [index, example] of (await examples()).entries()) {
      const header = `// ${example.where}\n`;
      await writeFile(join(dir, `esm/example-${index}.ts`), header + example.code);
      await writeFile(join(dir, `cjs/example-${index}.ts`), header + asCommonJs(example.code));
      count += 1;
    }
    for (const [index, { folder, options }] of Object.values(PROJECTS).entries()) {
      await writeFile(
        join(dir, `tsconfig-${index}.json`),
        JSON.stringify({ compilerOptions: options, include: ['application.d.ts', folder] }),
      );
    }
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('there are examples to compile', () => {
    assert.ok(count >= 6, `found ${count - 1} TypeScript examples`);
  });

  test('the packed package loads as it type-checks: require() from CommonJS, import from an ES module', async () => {
    const probe = "typeof m.createLoginkit + ' ' + typeof m.SignInTimeoutError";
    const required = await run(process.execPath, ['-e', `const m = require('loginkit'); process.stdout.write(${probe})`], {
      cwd: join(dir, 'cjs'),
    });
    const imported = await run(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import('loginkit'); process.stdout.write(${probe})`],
      { cwd: join(dir, 'esm') },
    );
    assert.deepEqual([required.stdout, imported.stdout], ['function function', 'function function']);
  });

  for (const [compiler, bin] of [
    ['TypeScript 7', 'node_modules/typescript/bin/tsc'],
    ['TypeScript 5.x', 'node_modules/typescript5/bin/tsc'],
  ] as const) {
    for (const [index, project] of Object.keys(PROJECTS).entries()) {
      test(`${compiler}, ${project}: every example type-checks`, async () => {
        const errors = await run(process.execPath, [join(ROOT, bin), '-p', join(dir, `tsconfig-${index}.json`)], { cwd: dir }).then(
          () => '',
          (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}` || String(error),
        );
        assert.equal(
          errors,
          '',
          `${compiler} (${project}) found errors in the examples (each file's first line names the README line):\n${errors}`,
        );
      });
    }
  }
});
