// The package as `npm pack` makes it (run `npm run build` first): what it ships, and what an embedder who
// installs it without the optional peers (pg, ioredis, the MCP client) gets from `import('loginkit')`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLI_ENTRY, cliEnvironment, makeHome } from '../helpers/cli.js';

const run = promisify(execFile);
const ROOT = join(dirname(CLI_ENTRY), '..');

/** The paths `npm pack` would put in the package, relative to its root. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 30_000 });
  const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  assert.ok(packed, 'npm pack describes one package');
  return packed.files.map((file) => file.path);
}

/**
 * A fresh folder where loginkit is installed as npm would by default: the packed files in
 * node_modules/loginkit, its dependencies beside it, its optional peers absent.
 */
async function installWithoutOptionalPeers(files: string[]): Promise<string> {
  const folder = realpathSync(await mkdtemp(join(tmpdir(), 'loginkit-installed-')));
  const modules = join(folder, 'node_modules');
  for (const file of files) {
    await mkdir(dirname(join(modules, 'loginkit', file)), { recursive: true });
    await copyFile(join(ROOT, file), join(modules, 'loginkit', file));
  }
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of Object.keys(manifest.dependencies)) {
    await mkdir(dirname(join(modules, name)), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  }
  return folder;
}

/** Runs an ES module script in `folder` and returns its stdout. */
async function runScript(folder: string, script: string, args: string[] = []): Promise<string> {
  const file = join(folder, `script-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(file, script);
  const { stdout } = await run(process.execPath, [...args, file], { cwd: folder, timeout: 30_000 });
  return stdout;
}

describe('the packed package', () => {
  let files: string[] = [];
  let folder = '';

  before(async () => {
    files = await packedFiles();
    folder = await installWithoutOptionalPeers(files);
  });
  after(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  test('ships no code cache, and no source map or map reference that points at files it does not ship', async () => {
    assert.ok(files.includes('dist/cli/loginkit.cjs') && files.includes('dist/index.js'), 'the CLI and the library are packed');
    // Every subpath the exports map names is in the package (`loginkit/ink` once pointed at a file the build no longer made).
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
    };
    for (const target of Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)))) {
      assert.ok(files.includes(target.replace(/^\.\//, '')), `the exports map names ${target}, which the package does not ship`);
    }
    // A V8 code cache is valid only at the path it was made at: the CLI makes its own where it is installed.
    assert.deepEqual(
      files.filter((file) => /\.(v8)?cache$/.test(file)),
      [],
    );
    const shipped = new Set(files);
    for (const file of files.filter((name) => /\.(c|m)?js$/.test(name))) {
      const reference = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(await readFile(join(ROOT, file), 'utf8'))?.[1];
      if (reference && !reference.startsWith('data:')) {
        assert.ok(shipped.has(posix.join(posix.dirname(file), reference)), `${file} names the source map ${reference}, not in the package`);
      }
    }
    for (const map of files.filter((name) => name.endsWith('.map'))) {
      const { sources, sourcesContent } = JSON.parse(await readFile(join(ROOT, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: Array<string | null>;
      };
      sources.forEach((source, index) => {
        const resolves = shipped.has(posix.join(posix.dirname(map), source)) || typeof sourcesContent?.[index] === 'string';
        assert.ok(resolves, `${map} points at ${source}, which the package does not ship`);
      });
    }
  });

  test("import('loginkit') loads the package's own files only: no optional peer, no OAuth or HTTP library, no zod locales", async () => {
    const record = join(folder, 'loaded.txt');
    const hooks = join(folder, 'record-hooks.mjs');
    await writeFile(
      hooks,
      `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.startsWith('file:')) appendFileSync(${JSON.stringify(record)}, url + '\\n');\n  return next(url, context);\n}\n`,
    );
    const register = `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`;
    await writeFile(join(folder, 'register.mjs'), register);
    await runScript(folder, "const kit = await import('loginkit');\nconsole.log(typeof kit.createLoginkit);\n", [
      '--import',
      join(folder, 'register.mjs'),
    ]);
    const loaded = (await readFile(record, 'utf8'))
      .trim()
      .split('\n')
      .map((url) => fileURLToPath(url))
      .filter((file) => file !== hooks && !file.startsWith(join(folder, 'script-')));
    const own = join(folder, 'node_modules/loginkit/');
    assert.ok(loaded.includes(join(own, 'dist/index.js')), `the library's entry was loaded: ${loaded.join(' ')}`);
    assert.deepEqual(
      loaded.filter((file) => !file.startsWith(own)),
      [],
      'files from other packages load only when a feature uses them',
    );
  });

  test('without its optional peers, the features that need one say exactly what to install', async () => {
    const home = await makeHome();
    try {
      const stdout = await runScript(
        folder,
        `import { createLoginkit } from 'loginkit';
const home = ${JSON.stringify(home)};
const errors = [];
for (const store of ['postgres://loginkit@127.0.0.1:9/loginkit', 'redis://127.0.0.1:9/0']) {
  await createLoginkit({ home, env: { LOGINKIT_STORE: store } }).getToken('openai').catch((error) => errors.push(error));
}
await createLoginkit({ home, env: {} }).mcp('http://127.0.0.1:9/mcp').check().catch((error) => errors.push(error));
console.log(JSON.stringify(errors.map((error) => ({ code: error.code, message: error.message }))));
`,
      );
      const [postgres, redis, mcp] = JSON.parse(stdout) as Array<{ code: string; message: string }>;
      assert.deepEqual(postgres, {
        code: 'configuration',
        message: 'A PostgreSQL store needs the package pg, which is not installed: npm install pg',
      });
      assert.deepEqual(redis, {
        code: 'configuration',
        message: 'A Redis store needs the package ioredis, which is not installed: npm install ioredis',
      });
      assert.deepEqual(mcp, {
        code: 'configuration',
        message:
          'Checking an MCP server needs the package @modelcontextprotocol/client, which is not installed: npm install @modelcontextprotocol/client',
      });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('the CLI carries the shared stores’ drivers itself, so that `npx loginkit` works on a fleet machine', async () => {
    const home = await makeHome();
    try {
      const cli = join(folder, 'node_modules/loginkit/bin/loginkit.cjs');
      for (const store of ['postgres://loginkit@127.0.0.1:9/loginkit', 'redis://127.0.0.1:9/0']) {
        const stderr = await run(process.execPath, [cli, 'token', 'openai'], {
          env: cliEnvironment(home, { LOGINKIT_STORE: store, LOGINKIT_STORE_TIMEOUT: '5', XDG_CACHE_HOME: join(home, 'cache') }),
          timeout: 30_000,
        }).then(
          () => assert.fail('nothing listens on port 9'),
          (error: { stderr: string }) => error.stderr,
        );
        // The driver ran: it tried the server (refused), rather than asking for a package.
        assert.doesNotMatch(stderr, /npm install/);
        assert.match(stderr, /127\.0\.0\.1:9/);
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('LOGINKIT_DEBUG=1 stack traces name the functions and classes of the source', async () => {
    const home = await makeHome();
    try {
      const cli = join(folder, 'node_modules/loginkit/bin/loginkit.cjs');
      const outcome = await run(process.execPath, [cli, 'token', 'no-such-provider'], {
        env: cliEnvironment(home, { LOGINKIT_STORE: 'file', LOGINKIT_DEBUG: '1', XDG_CACHE_HOME: join(home, 'cache') }),
        timeout: 30_000,
      }).then(
        () => assert.fail('an unknown provider is an error'),
        (error: { stderr: string }) => error.stderr,
      );
      assert.match(outcome, /^UnknownProviderError: Unknown provider "no-such-provider"/m);
      assert.match(outcome, /^ {4}at (async )?knownProvider \(.*dist\/cli\/loginkit\.cjs:\d+:\d+\)$/m);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
