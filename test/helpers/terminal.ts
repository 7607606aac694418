import { spawn } from 'node:child_process';
import { CLI_ENTRY, cliEnvironment } from './cli.js';

/** What a CLI run in a pseudo-terminal printed (escape sequences and line breaks removed) and how it ended. */
export interface TerminalRun {
  code: number | null;
  output: string;
}

/**
 * Runs the CLI in a pseudo-terminal (util-linux `script`), as a person at a terminal would, typing each
 * answer once its prompt has appeared. The output is compared without escape sequences and line breaks,
 * because the pty echoes prompts in odd pieces.
 */
export async function inTerminal(
  home: string,
  args: string[],
  dialogue: Array<[RegExp, string]>,
  env: Record<string, string | undefined> = {},
): Promise<TerminalRun> {
  const command = [process.execPath, CLI_ENTRY, ...args].map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ');
  // A new pty has no size; prompts wrap at the terminal width, so give it one.
  const child = spawn('script', ['-qfec', `stty cols 200 rows 40; exec ${command}`, '/dev/null'], {
    env: cliEnvironment(home, env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on(
    'data',
    (chunk: Buffer) =>
      (output += chunk
        .toString()
        .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
        .replace(/[\r\n]/g, '')),
  );
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const [prompt, answer] of dialogue) {
    const started = Date.now();
    while (!prompt.test(output)) {
      if (Date.now() - started > 15_000) {
        child.kill('SIGKILL');
        throw new Error(`no prompt ${prompt} in:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.stdin.write(answer);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, output };
}
