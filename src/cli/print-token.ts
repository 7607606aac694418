import { clientFor } from './client-for.js';
import { EXIT, type Io, exitCodeFor, reportError, writeData } from './output.js';

// Apart from commands/token.ts so that the fast path of loginkit.ts loads no command-line parser.

/** `loginkit token <provider>`: a valid access token on stdout and nothing else; errors on stderr. */
export async function printToken(provider: string, io: Io, choice: { profile?: string; source?: 'env' | 'store' } = {}): Promise<number> {
  const kit = clientFor(io);
  try {
    const token = await kit.getToken(provider, choice);
    writeData(io, `${token}\n`);
    return EXIT.ok;
  } catch (error) {
    reportError(io, error, false);
    return exitCodeFor(error);
  } finally {
    await kit.close().catch(() => undefined);
  }
}

/**
 * True for the plain `token <provider>` call that scripts make in loops: it is served without loading the
 * command-line parser, which is most of the CLI's start-up time.
 */
export function isPlainTokenCall(argv: readonly string[]): argv is [string, string] {
  return argv.length === 2 && argv[0] === 'token' && /^[a-z0-9]/.test(argv[1] ?? '');
}
