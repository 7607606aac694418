import type { EnvVars } from './home.js';

// One rule for every program loginkit starts (a browser command, a key command, a data key command, the
// program of `exec`): it inherits the environment, except what unlocks loginkit's own stores.

/** Variables that unlock a store: no child process gets them. */
const STORE_SECRETS = ['LOGINKIT_PASSPHRASE', 'LOGINKIT_DATA_KEY', 'LOGINKIT_DATA_KEY_COMMAND'] as const;

/** A URL with a password (`scheme://user:password@host`), as a shared store's may be. */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i;

/**
 * The environment for a child process: `env` without the store passphrase, a shared store's data key or
 * its command, and LOGINKIT_STORE when it is a URL that carries a password. A store choice without a
 * secret (`file`, `redis://host/0`) stays, so that a loginkit run by the child finds the same store.
 */
export function childEnvironment(env: EnvVars): NodeJS.ProcessEnv {
  const child: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) child[name] = value;
  for (const name of STORE_SECRETS) delete child[name];
  if (URL_WITH_PASSWORD.test(child.LOGINKIT_STORE ?? '')) delete child.LOGINKIT_STORE;
  return child;
}
