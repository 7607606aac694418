// @azure/identity is an optional dependency, loaded only when a non-interactive identity has to make a token:
// `import('loginkit')` does not load it, nor does a token served from the store (the `loginkit token` loop).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import { CLI_ENTRY, cliEnvironment, makeHome, runCliProcess } from '../helpers/cli.js';
import { type ManagedIdentityStandIn, startManagedIdentity } from '../helpers/azure-stand-ins.js';

const ID = 'azure';
const LIBRARY = fileURLToPath(new URL('../dist/index.js', `file://${CLI_ENTRY}`));
const RECORDER = realpathSync(fileURLToPath(new URL('../helpers/module-recorder.cjs', import.meta.url)));

// A resolve hook that refuses @azure/identity: importing it anywhere in the child fails with this marker.
const REFUSE_AZURE_IDENTITY = `data:text/javascript,${encodeURIComponent(
  "export async function resolve(specifier, context, next) { if (specifier.startsWith('@azure/')) throw new Error('REFUSED ' + specifier); return next(specifier, context); }",
)}`;

/** A child that registers the hook, imports loginkit, prints getToken('azure'), then shows the hook works. */
function libraryScript(): string {
  return `
import { register } from 'node:module';
register(${JSON.stringify(REFUSE_AZURE_IDENTITY)});
const { createLoginkit } = await import(${JSON.stringify(LIBRARY)});
const token = await createLoginkit().getToken('azure');
let refused = 'not refused';
await import('@azure/identity').catch((error) => { refused = error.message; });
process.stdout.write(JSON.stringify({ token, refused }));
`;
}

describe('@azure/identity loads only to make a token', () => {
  let mi: ManagedIdentityStandIn;
  before(async () => {
    mi = await startManagedIdentity();
  });
  after(async () => mi.close());

  test('import(loginkit) and a stored token: @azure/identity is not loaded, in the library or the CLI', async () => {
    const home = await makeHome();
    await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { [ID]: { type: 'azure', identity: 'managed-identity' } } }));
    const env = { LOGINKIT_STORE: 'file', IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader };
    const first = await runCliProcess(['token', ID], { home, env });
    assert.equal(first.code, 0, first.stderr);
    const token = first.stdout.trim();

    const library = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', libraryScript()], {
      env: cliEnvironment(home, env),
    });
    const seen = JSON.parse(library.stdout) as { token: string; refused: string };
    assert.equal(seen.token, token);
    assert.equal(seen.refused, 'REFUSED @azure/identity', 'the hook was in place, and nothing before had imported it');

    const record = join(home, 'modules.json');
    const cli = await promisify(execFile)(process.execPath, ['--require', RECORDER, CLI_ENTRY, 'token', ID], {
      env: cliEnvironment(home, { ...env, LOGINKIT_TEST_MODULES: record }),
    });
    assert.equal(cli.stdout, `${token}\n`);
    const loaded = JSON.parse(await readFile(record, 'utf8')) as { files: string[]; builtins: string[] };
    assert.deepEqual(
      loaded.files.filter((file) => file.includes('node_modules')),
      [],
    );
    for (const heavy of ['http', 'https', 'net', 'child_process']) {
      assert.ok(!loaded.builtins.includes(heavy), `node:${heavy} was loaded: ${loaded.builtins.join(' ')}`);
    }
  });

  test('the CLI bundle imports @azure/identity from node_modules instead of carrying it (MSAL would add ~430 KB to every start)', async () => {
    const bundle = await readFile(join(dirname(CLI_ENTRY), '../dist/cli/loginkit.cjs'), 'utf8');
    assert.ok(bundle.includes('__esmI("@azure/identity")'), 'imported at run time');
    assert.ok(!bundle.includes('ManagedIdentityApplication'), 'MSAL is not in the bundle');
  });
});
