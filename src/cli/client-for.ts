import { type Loginkit, type LoginkitOptions, createLoginkit } from '../index.js';
import { type Io, say } from './output.js';
import { passphraseFor } from './passphrase-prompt.js';

/** The loginkit client every command uses: settings from the environment, warnings on stderr. */
export function clientFor(io: Io, options: Omit<LoginkitOptions, 'env' | 'onWarning'> = {}): Loginkit {
  return createLoginkit({
    ...options,
    env: io.env,
    onWarning: (message) => say(io, `warning: ${message}`),
    askPassphrase: passphraseFor(io),
    ...(io.cwd ? { cwd: io.cwd } : {}),
  });
}
