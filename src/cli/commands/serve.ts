import { type Command, Option } from 'commander';
import { createLoginkit } from '../../index.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../output.js';
import { passphraseFor } from '../passphrase-prompt.js';

/** `loginkit serve --stdio`: a JSON-RPC 2.0 server on stdin/stdout for TUIs in other languages (docs/serve-stdio.schema.json). */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve sign-ins, status and tokens to another program: JSON-RPC 2.0 over stdin/stdout')
    .addOption(new Option('--stdio', 'newline-delimited JSON-RPC 2.0 on stdin and stdout (the only transport)'))
    .action(async (options: { stdio?: boolean }) => {
      if (options.stdio !== true) throw new UsageError('Say how to serve: loginkit serve --stdio');
      const { serveStdio } = await import('../serve-stdio.js');
      const { io } = ctx;
      // stdout carries only protocol messages: warnings go out as `warning` notifications. stdin is the
      // protocol's, so a passphrase store is unlocked by LOGINKIT_PASSPHRASE alone (kept from child processes).
      let write = (line: string): void => void io.stdout.write(line);
      const kit = createLoginkit({
        env: io.env,
        onWarning: (message) => write(`${JSON.stringify({ jsonrpc: '2.0', method: 'warning', params: { message } })}\n`),
        askPassphrase: passphraseFor(io),
        ...(io.cwd ? { cwd: io.cwd } : {}),
      });
      try {
        await serveStdio(kit, io.stdin, (line) => write(line));
      } finally {
        write = () => undefined;
        await kit.close();
      }
    });
}
