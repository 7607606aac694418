import { spawn } from 'node:child_process';
import type { EnvVars } from '../shared/home.js';
import { errorCode } from '../shared/errno.js';
import { childEnvironment } from '../shared/child-env.js';

/** How long a browser command may take to fail before we take it as launched. */
const LAUNCH_WATCH_MS = 1_500;

/**
 * Opens `url` in the person's browser: the command in `$BROWSER` (words split on spaces, the URL appended
 * as the last argument, no shell), else the platform's opener through `open`. Only http(s) URLs are opened.
 * Rejects when the browser cannot be started; the caller decides that this is not fatal.
 */
export async function openSystemBrowser(url: string, env: EnvVars): Promise<void> {
  const protocol = new URL(url).protocol;
  if (protocol !== 'https:' && protocol !== 'http:') throw new Error(`refusing to open a ${protocol} URL`);
  const browser = env.BROWSER?.trim();
  if (browser) {
    const [command, ...args] = browser.split(/\s+/);
    return launch(command as string, [...args, url], env);
  }
  const { default: open } = await import('open');
  const child = await open(url, { wait: false });
  await watchLaunch(child);
}

function launch(command: string, args: string[], env: EnvVars): Promise<void> {
  const child = spawn(command, args, { detached: true, stdio: 'ignore', env: childEnvironment(env) });
  return watchLaunch(child);
}

/** Resolves once the launcher has run a moment without failing; rejects on a spawn error or a non-zero exit. */
function watchLaunch(child: import('node:child_process').ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, LAUNCH_WATCH_MS);
    timer.unref();
    function done(): void {
      child.removeAllListeners();
      child.unref();
      resolve();
    }
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start the browser (${errorCode(error) ?? error.message})`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 || code === null) done();
      else reject(new Error(`the browser command exited with status ${code}`));
    });
    child.unref();
  });
}
