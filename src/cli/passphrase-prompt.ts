import { LoginkitError, type PassphraseProvider, type PassphraseRequest } from '../index.js';
import type { Io } from './output.js';

const providers = new WeakMap<Io, PassphraseProvider>();

/**
 * The CLI's passphrase source: `LOGINKIT_PASSPHRASE`, taken out of the environment on first use so that no
 * child process (browser launcher, a later `exec`) inherits it; else a hidden prompt on stderr when stdin
 * and stderr are terminals (the prompt goes to stderr); else none, and the library says how to give one.
 */
export function passphraseFor(io: Io): PassphraseProvider {
  let provider = providers.get(io);
  if (!provider) {
    const fromEnvironment = io.env.LOGINKIT_PASSPHRASE;
    delete io.env.LOGINKIT_PASSPHRASE;
    provider = async (request) => fromEnvironment ?? (isInteractive(io) ? askPassphrase(io, request) : undefined);
    providers.set(io, provider);
  }
  return provider;
}

function isInteractive(io: Io): boolean {
  return io.stdin.isTTY === true && io.stderr.isTTY === true && !io.env.CI;
}

async function askPassphrase(io: Io, request: PassphraseRequest): Promise<string> {
  const { isCancel, password } = await import('@clack/prompts');
  const ask = async (message: string): Promise<string> => {
    const answer = await password({
      message,
      input: io.stdin,
      output: io.stderr,
      validate: (value) => (value ? undefined : 'The passphrase cannot be empty.'),
    });
    if (isCancel(answer)) throw new LoginkitError('interrupted', 'Cancelled; nothing was changed.');
    return answer;
  };
  if (request.purpose === 'unlock') return ask(`Passphrase for ${request.path}`);
  const first = await ask(`New passphrase to encrypt ${request.path}`);
  const second = await ask('The same passphrase again');
  if (first !== second) throw new LoginkitError('usage', 'The two passphrases differ; nothing was changed.\nRun the command again.');
  return first;
}
