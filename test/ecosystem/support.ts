// Shared by the ecosystem tests: the CLI run in-process on a plaintext store, and small helper programs.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, runCli } from '../helpers/cli.js';

/** Runs `loginkit <argv>` in this process (test/helpers/cli.ts) on a plaintext store, with `env` over the CLI's environment. */
export function runLoginkit(
  argv: string[],
  opts: { home: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number },
): Promise<CliResult> {
  return runCli(argv, {
    home: opts.home,
    env: { LOGINKIT_STORE: 'file', ...opts.env },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });
}

/** Writes an executable Node script into a fresh folder and returns its path. */
export async function writeScript(name: string, source: string, dir?: string): Promise<string> {
  const folder = dir ?? (await mkdtemp(join(tmpdir(), 'loginkit-script-')));
  const path = join(folder, name);
  await writeFile(path, `#!${process.execPath}\n${source}\n`);
  await chmod(path, 0o755);
  return path;
}
