// Ink and React are optional peer dependencies used only by `loginkit/ink`: the main entry must load without
// them. Checked on the built package (dist/, as published) in a process where importing either one throws.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `code` as an ES module from the repository (so `loginkit` resolves to itself) with ink and react unloadable. */
async function withoutInkAndReact(code: string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-peers-'));
  try {
    const hooks = join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {\n  if (/^(ink|react)(\\/|$)/.test(specifier)) throw new Error('blocked: ' + specifier);\n  return next(specifier, context);\n}\n`,
    );
    const register = join(dir, 'register.mjs');
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const run = await promisify(execFile)(process.execPath, ['--import', register, '--input-type=module', '-e', code], { cwd: ROOT }).then(
      (result) => ({ ok: true, output: result.stdout + result.stderr }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    return run;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("import('loginkit') loads neither ink nor react, and starting a sign-in needs neither", async () => {
  const run = await withoutInkAndReact(
    `const { createLoginkit } = await import('loginkit');\nconst kit = createLoginkit({ home: '/nonexistent-loginkit-home', env: {} });\nconsole.log(typeof kit.startSignIn);`,
  );
  assert.equal(run.ok, true, run.output);
  assert.match(run.output, /function/);
});

test("import('loginkit/ink') is the component, and it does need ink (the check above can fail)", async () => {
  const blocked = await withoutInkAndReact(`await import('loginkit/ink');`);
  assert.equal(blocked.ok, false);
  assert.match(blocked.output, /blocked: (ink|react)/);
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', `const ink = await import('loginkit/ink'); console.log(typeof ink.SignIn);`],
    { cwd: ROOT },
  );
  assert.equal(stdout.trim(), 'function');
});
