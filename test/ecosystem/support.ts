// Shared by the ecosystem tests: the CLI run in-process with a fake Io, and small helper programs.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { runCli } from '../../src/cli/main.js';

/** How an in-process CLI run ended. */
export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `loginkit <argv>` in this process with `env` (LOGINKIT_HOME set to `home`) and an empty stdin. */
export async function runLoginkit(
  argv: string[],
  opts: { home: string; env?: Record<string, string>; cwd?: string },
): Promise<InProcessResult> {
  const output = { stdout: '', stderr: '' };
  const sink = (name: 'stdout' | 'stderr'): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        output[name] += chunk.toString('utf8');
        done();
      },
    });
  const stdin = new PassThrough();
  stdin.end();
  const env = { PATH: process.env.PATH ?? '', LOGINKIT_STORE: 'file', ...opts.env, LOGINKIT_HOME: opts.home };
  const code = await runCli(argv, { stdin, stdout: sink('stdout'), stderr: sink('stderr'), env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  return { code, ...output };
}

/** Writes an executable Node script into a fresh folder and returns its path. */
export async function writeScript(name: string, source: string, dir?: string): Promise<string> {
  const folder = dir ?? (await mkdtemp(join(tmpdir(), 'loginkit-script-')));
  const path = join(folder, name);
  await writeFile(path, `#!${process.execPath}\n${source}\n`);
  await chmod(path, 0o755);
  return path;
}
