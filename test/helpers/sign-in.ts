// The set-up most sign-in tests share: a real oidc-provider for the lifetime of a describe (or file), fresh
// homes that know it as a provider, and a `$BROWSER` that hands the URL to this process, where the person signs
// in over HTTP (person.ts; no Node.js and no Chromium page per sign-in).
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

import { createLoginkit } from '../../src/index.js';
import { type AuthServer, type AuthServerOptions, startAuthServer } from './auth-server.js';
import { type SignInResult, closeBrowser } from './browser.js';
import { homeWithProvider, makeHome } from './cli.js';
import { signInOptionsFor, signInOverHttp } from './person.js';

/** Options for {@link browserHandoff}. */
export interface HandoffOptions {
  /** Name typed into the dev login form. Default 'alice'. */
  login?: string;
  /** Stop at the authorization URL's own redirect_uri, so the callback never reaches the listener. */
  stopAtCallback?: boolean;
}

/** A `$BROWSER` command whose sign-ins run in this process. */
export interface BrowserHandoff {
  /** Path of the script to put in `$BROWSER`. */
  command: string;
  /** The URLs the command was given, in order. */
  urls: string[];
  /** Resolves with where the most recent sign-in ended; waits for the first one if none has started. */
  last(): Promise<SignInResult>;
  close(): void;
}

const URL_FILE = /^url-\d+$/;

/**
 * Writes a `$BROWSER` script that only passes the URL (its last argument) to this process through a file; each
 * URL is then signed in at in this process, as `browser-open.ts` would do it in a process of its own. The CLI
 * opens it exactly as it opens a person's browser.
 */
export function browserHandoff(opts: HandoffOptions = {}): BrowserHandoff {
  const dir = mkdtempSync(join(tmpdir(), 'loginkit-browser-'));
  const command = join(dir, `browser-${randomBytes(4).toString('hex')}.sh`);
  // Written whole under a temporary name, then renamed: the watcher never reads half a URL.
  writeFileSync(command, `#!/bin/sh\nfor url; do :; done\nprintf '%s' "$url" > "${dir}/.url-$$" && mv "${dir}/.url-$$" "${dir}/url-$$"\n`);
  chmodSync(command, 0o755);

  const urls: string[] = [];
  const signIns: Array<Promise<SignInResult>> = [];
  const waiters: Array<() => void> = [];
  const pickUp = (): void => {
    for (const name of readdirSync(dir)
      .filter((entry) => URL_FILE.test(entry))
      .sort()) {
      const path = join(dir, name);
      const url = readFileSync(path, 'utf8');
      rmSync(path);
      urls.push(url);
      const signIn = signInOverHttp(url, signInOptionsFor(url, opts));
      signIn.catch(() => undefined);
      signIns.push(signIn);
      for (const wake of waiters.splice(0)) wake();
    }
  };
  // Not persistent: a test that never uses the browser does not keep the process alive.
  const watcher: FSWatcher = watch(dir, { persistent: false }, () => pickUp());
  return {
    command,
    urls,
    last: async () => {
      if (signIns.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
      return signIns.at(-1) as Promise<SignInResult>;
    },
    close: () => {
      watcher.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real authorization server for the enclosing describe (or file), with what tests build on it. */
export interface SignInFixture {
  /** The running server (available inside tests and hooks, not while tests are being declared). */
  readonly server: AuthServer;
  /** A fresh home where `loginkit providers add <id>` registered the server (default id 'demo'). */
  home(id?: string): Promise<string>;
  /** A fresh `$BROWSER` command signing in in this process; closed after the describe. */
  browser(opts?: HandoffOptions): BrowserHandoff;
  /** A fresh home signed in to the server as provider `id` through the library (plaintext store). */
  signedInHome(id?: string): Promise<string>;
}

/**
 * Starts oidc-provider before the tests of the enclosing describe (or file) and stops it, with every browser
 * handoff and this process's Chromium (if a sign-in used it), after them.
 */
export function useSignInServer(options: AuthServerOptions = {}): SignInFixture {
  let running: AuthServer | undefined;
  const handoffs: BrowserHandoff[] = [];
  before(async () => {
    running = await startAuthServer(options);
  });
  after(async () => {
    for (const handoff of handoffs.splice(0)) handoff.close();
    await running?.close();
    // A test of the browser itself may have signed in with Chromium directly.
    await closeBrowser();
  });
  const server = (): AuthServer => {
    if (running === undefined) throw new Error('the authorization server is started in before(): use it inside tests');
    return running;
  };
  return {
    get server() {
      return server();
    },
    home: (id = 'demo') => homeWithProvider(server(), id),
    browser: (opts) => {
      const handoff = browserHandoff(opts);
      handoffs.push(handoff);
      return handoff;
    },
    signedInHome: (id = 'demo') => signedInHome(server(), id),
  };
}

/** A fresh home signed in to `server` as provider `id` through the library, in this process (plaintext store). */
export async function signedInHome(server: AuthServer, id = 'demo'): Promise<string> {
  const home = await makeHome();
  const kit = createLoginkit({
    home,
    env: { LOGINKIT_STORE: 'file' },
    openBrowser: async (url) => {
      await signInOverHttp(url);
    },
  });
  await kit.addProvider(id, { type: 'oauth', issuer: server.issuer, clientId: server.clientId });
  await kit.login(id);
  return home;
}
