import type { EnvVars } from './home.js';
import { urlCarriesSecret } from './mask.js';

// One rule for every program loginkit starts (a browser command, a key command, a data key command, the
// program of `exec`): it inherits the environment, except what unlocks loginkit's own stores.

/**
 * Variables that unlock a store: no child process gets them. Besides loginkit's own, those that carry the
 * password of a shared store's database: `PGPASSWORD` and `PGPASSFILE` (read by `pg` and libpq),
 * `PGSERVICEFILE` (libpq's service file may hold a password) and `REDISCLI_AUTH` (redis-cli's; ioredis
 * reads no variable).
 */
const STORE_SECRETS = [
  'LOGINKIT_PASSPHRASE',
  'LOGINKIT_DATA_KEY',
  'LOGINKIT_DATA_KEY_COMMAND',
  'PGPASSWORD',
  'PGPASSFILE',
  'PGSERVICEFILE',
  'REDISCLI_AUTH',
] as const;

/**
 * The environment for a child process: `env` without the store passphrase, a shared store's data key or
 * its command, the database passwords above, and LOGINKIT_STORE when it is a URL that carries a password
 * (`user:password@` or a password-like query parameter, see urlSecrets). A store choice without a
 * secret (`file`, `redis://host/0`) stays, so that a loginkit run by the child finds the same store.
 */
export function childEnvironment(env: EnvVars): NodeJS.ProcessEnv {
  const child: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) child[name] = value;
  for (const name of STORE_SECRETS) delete child[name];
  if (urlCarriesSecret(child.LOGINKIT_STORE ?? '')) delete child.LOGINKIT_STORE;
  return child;
}
