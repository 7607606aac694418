// The README's "Sign-in in your own TUI" examples, run as written: the state machine from plain JavaScript,
// the Ink component in a pseudo-terminal (its JSX compiled by esbuild, Enter pressed), and the Python client of
// `loginkit serve --stdio`, each signing in to the real oidc-provider as provider `acme`.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

import { readDocs } from '../helpers/docs.js';
import { CLI_ENTRY, cliEnvironment } from '../helpers/cli.js';
import { completeDeviceSignInOverHttp } from '../helpers/person.js';
import { useSignInServer } from '../helpers/sign-in.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The code blocks of the README's section, by language. */
async function examples(): Promise<Record<string, string>> {
  const readme = await readDocs();
  const start = readme.indexOf('## Sign-in in your own TUI\n');
  assert.ok(start >= 0, 'the README has the section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return Object.fromEntries([...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => [m[1] as string, m[2] as string]));
}

/** Collects a child's output and resolves when it has exited; `waitFor` resolves with the match of a pattern. */
function watch(child: ChildProcess) {
  let output = '';
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      for (const listener of [...listeners]) listener();
    });
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))).finally(() => clearTimeout(timer));
  return {
    output: () => output,
    exited,
    waitFor: (pattern: RegExp) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = (): void => {
          const found = pattern.exec(output);
          if (found) {
            listeners.delete(check);
            resolve(found);
          }
        };
        listeners.add(check);
        void exited.then(() => reject(new Error(`exited before ${pattern}:\n${output}`)));
        check();
      }),
  };
}

describe('README: Sign-in in your own TUI', () => {
  const fixture = useSignInServer({ deviceInterval: 1 });
  let dir = '';
  before(async () => {
    // A project folder where `loginkit`, `ink` and `react` resolve as they would once installed.
    dir = await mkdtemp(join(tmpdir(), 'loginkit-own-tui-'));
    await mkdir(join(dir, 'node_modules'));
    await symlink(ROOT, join(dir, 'node_modules/loginkit'));
    for (const name of ['ink', 'react']) await symlink(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin/loginkit'), `#!/bin/sh\nexec '${process.execPath}' '${CLI_ENTRY}' "$@"\n`, { mode: 0o755 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the state machine example signs in through the browser', async () => {
    const home = await fixture.home('acme');
    await writeFile(join(dir, 'machine.mjs'), (await examples()).js ?? '');
    const env = cliEnvironment(home, { LOGINKIT_STORE: 'file', BROWSER: fixture.browser().command });
    const run = watch(spawn(process.execPath, ['machine.mjs'], { cwd: dir, env }));
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /^Sign in at http:\/\/127\.0\.0\.1:\d+\/auth\?/m);
    assert.match(run.output(), /^Signed in as alice@example\.test$/m);
  });

  test('the Ink example: Enter picks the browser, the person signs in, onDone runs', async () => {
    const home = await fixture.home('acme');
    const { code } = await transform((await examples()).jsx ?? '', { loader: 'jsx', jsx: 'automatic', format: 'esm' });
    await writeFile(join(dir, 'app.mjs'), code);
    const env = cliEnvironment(home, { LOGINKIT_STORE: 'file', BROWSER: fixture.browser().command, CI: undefined, TERM: 'xterm' });
    const command = `stty cols 200 rows 50; exec '${process.execPath}' app.mjs`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const run = watch(child);
    await run.waitFor(/❯ In the browser/);
    child.stdin?.write('\r');
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /Signed in to acme as alice@example\.test\./, 'the last screen');
    assert.match(run.output(), /Signed in to acme\r?\n/, "the example's own line, after the app unmounted");
  });

  test('the Python example signs in with a device code through `loginkit serve --stdio`', async () => {
    const home = await fixture.home('acme');
    await writeFile(join(dir, 'client.py'), (await examples()).python ?? '');
    const env = cliEnvironment(home, { LOGINKIT_STORE: 'file', PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` });
    const run = watch(spawn('python3', ['client.py'], { cwd: dir, env }));
    const [, uri = '', code = ''] = await run.waitFor(/^Open (\S+) and enter (\S+)$/m);
    await completeDeviceSignInOverHttp(uri, code);
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /^done$/m);
  });
});
