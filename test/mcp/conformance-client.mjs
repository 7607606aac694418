// The client the MCP conformance suite drives: loginkit's CLI, exactly as an outside tool would run it.
// The runner appends the MCP server URL; MCP_CONFORMANCE_SCENARIO names the scenario and
// MCP_CONFORMANCE_CONTEXT carries pre-registered client credentials where a scenario has them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '../../bin/loginkit.cjs');
const url = process.argv.at(-1);
const scenario = (process.env.MCP_CONFORMANCE_SCENARIO ?? '').replace(/^auth\//, '');
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || '{}');
const home = mkdtempSync(join(tmpdir(), 'loginkit-conformance-'));
const env = {
  ...process.env,
  LOGINKIT_HOME: home,
  LOGINKIT_STORE: 'file',
  BROWSER: `${process.execPath} ${join(here, 'follow-redirects.mjs')}`,
  CI: '',
};
delete env.DISPLAY;

function loginkit(args, input, extraEnv = {}) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    env: { ...env, ...extraEnv },
    input: input ?? '',
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    rmSync(home, { recursive: true, force: true });
    process.exit(result.status ?? 1);
  }
}

const check = ['mcp', 'check', url, '--call', 'test-tool'];
switch (scenario) {
  case 'pre-registration':
    loginkit(['mcp', 'login', url, '--client-id', context.client_id, '--with-client-secret'], context.client_secret);
    loginkit(check);
    break;
  case 'client-credentials-basic':
    loginkit(
      ['mcp', 'login', url, '--client-credentials', '--client-id', context.client_id, '--with-client-secret'],
      context.client_secret,
    );
    loginkit(check);
    break;
  case 'client-credentials-jwt': {
    const keyFile = join(home, 'client-key.pem');
    writeFileSync(keyFile, context.private_key_pem, { mode: 0o600 });
    loginkit([
      'mcp',
      'login',
      url,
      '--client-credentials',
      '--client-id',
      context.client_id,
      '--private-key',
      keyFile,
      '--alg',
      context.signing_algorithm ?? 'ES256',
    ]);
    loginkit(check);
    break;
  }
  case 'basic-cimd':
    loginkit(check, '', { LOGINKIT_MCP_CLIENT_METADATA_URL: 'https://conformance-test.local/client-metadata.json' });
    break;
  case 'wif-jwt-bearer':
  case 'enterprise-managed-authorization':
  case 'cross-app-access-complete-flow': {
    // Workload identity and cross-app access are library options (no person, no CLI flags).
    const { createLoginkit } = await import('../../dist/index.js');
    const kit = createLoginkit({ home, env, store: 'file' });
    const options = context.valid_jwt
      ? { clientId: context.client_id, workloadAssertion: () => context.valid_jwt }
      : {
          clientId: context.client_id,
          clientSecret: context.client_secret,
          crossApp: { idpTokenEndpoint: context.idp_token_endpoint, idpIdToken: context.idp_id_token, idpClientId: context.idp_client_id },
        };
    try {
      await kit.mcp(url, options).check({ call: 'test-tool' });
    } catch (error) {
      process.stderr.write(`error: ${error.message}\n`);
      rmSync(home, { recursive: true, force: true });
      process.exit(1);
    }
    break;
  }
  default:
    loginkit(check);
}
rmSync(home, { recursive: true, force: true });
