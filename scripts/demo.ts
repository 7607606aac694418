// `npm run demo`: the main job end to end on an embedded default. Starts a local OpenID Connect
// authorization server (oidc-provider on 127.0.0.1), signs in to it through the browser with the real
// loginkit CLI, then shows `status`, uses `token` against the server's userinfo endpoint, and logs out.
// With a desktop browser the person signs in (any name and password); without a display, a headless
// Chromium plays the person. `npm run demo -- --tui` signs in inside an Ink app instead, with the
// <SignIn> component of `loginkit/ink` (method choice, browser URL, device code with a QR code, paste, key).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthServer } from '../test/helpers/auth-server.js';
import { makeBrowserCommand } from '../test/helpers/browser-command.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin/loginkit.cjs');

function step(text: string): void {
  process.stderr.write(`\n\x1b[1m▶ ${text}\x1b[0m\n`);
}

function loginkit(args: string[], env: NodeJS.ProcessEnv, capture = false): Promise<{ code: number; stdout: string }> {
  process.stderr.write(`$ loginkit ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

function hasDesktop(): boolean {
  if (process.env.CI || process.env.SSH_CONNECTION || process.env.SSH_TTY) return false;
  if (process.platform === 'linux') return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
  return true;
}

/** Signs in to `demo` in an Ink app rendering <SignIn>; without a terminal for keys, the browser method is chosen. */
async function signInWithInk(env: NodeJS.ProcessEnv): Promise<void> {
  step('Signing in inside an Ink app: <SignIn provider="demo" /> from loginkit/ink');
  const [{ render }, React, { SignIn }, { createLoginkit }] = await Promise.all([
    import('ink'),
    import('react'),
    import('../src/ink/index.js'),
    import('../src/index.js'),
  ]);
  const kit = createLoginkit({ env });
  let finish: (how: string) => void = () => undefined;
  const ended = new Promise<string>((resolve) => (finish = resolve));
  const app = render(
    React.createElement(SignIn, {
      kit,
      provider: 'demo',
      ...(process.stdin.isTTY ? {} : { method: 'browser' as const }),
      onDone: () => finish('done'),
      onCancel: () => finish('cancelled'),
    }),
  );
  const how = await ended;
  // Leave the last screen (✓ Signed in …) on the terminal.
  await new Promise((resolve) => setTimeout(resolve, 50));
  app.unmount();
  if (how !== 'done') throw new Error(`the sign-in was ${how}`);
}

if (!existsSync(join(root, 'dist/cli/loginkit.cjs'))) spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });

const home = await mkdtemp(join(tmpdir(), 'loginkit-demo-'));
const server = await startAuthServer({ clientId: 'loginkit-demo', accessTokenTtl: 600 });
const env: NodeJS.ProcessEnv = { ...process.env, LOGINKIT_HOME: home };
let failed = false;
try {
  step(`A local authorization server is running at ${server.issuer}`);
  await loginkit(['providers', 'add', 'demo', '--issuer', server.issuer, '--client-id', server.clientId], env);

  if (hasDesktop()) {
    step('Signing in: your browser opens the sign-in page (type any name and password)');
  } else {
    step('Signing in: no display here, so a headless Chromium plays the person at the browser');
    const ensure = spawnSync('bash', [join(root, 'scripts/ensure-system-deps.sh')], { stdio: 'inherit' });
    if (ensure.status !== 0) throw new Error('chromium is needed for the headless demo');
    env.BROWSER = makeBrowserCommand({ dir: home, login: 'demo-user', person: 'chromium' });
  }
  if (process.argv.includes('--tui')) {
    await signInWithInk(env);
  } else {
    const login = await loginkit(['login', 'demo'], env);
    if (login.code !== 0) throw new Error(`login exited ${login.code}`);
  }

  step('What loginkit knows now');
  await loginkit(['status'], env);

  step('`loginkit token demo` prints a valid access token for scripts; here it calls the userinfo endpoint');
  const token = await loginkit(['token', 'demo'], env, true);
  const accessToken = token.stdout.trim();
  process.stderr.write(`(token: ${accessToken.slice(0, 4)}… ${accessToken.length} characters)\n`);
  const userinfo = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  process.stderr.write(`GET ${server.issuer}/me → ${userinfo.status} ${JSON.stringify(await userinfo.json())}\n`);
  if (userinfo.status !== 200) throw new Error('the token did not work');

  step('Logging out revokes the tokens at the server and removes them locally');
  await loginkit(['logout', 'demo'], env);
  step('Demo complete');
} catch (error) {
  failed = true;
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await server.close();
  await rm(home, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
