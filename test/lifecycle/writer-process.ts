// Runs store-writer.ts as separate processes for the durability tests. The writer is bundled once, with the
// library's store code, into one file in a temporary folder: it then starts in ~0.1 s instead of ~1 s under
// tsx, which matters when a test starts dozens of them.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleProgram } from '../helpers/bundle.js';

const WRITER_SOURCE = fileURLToPath(new URL('./store-writer.ts', import.meta.url));

/** Temporary files of the atomic writes to credentials.json. */
export const TEMPORARY_FILE = /^\.credentials\.json\..*\.tmp$/;

/** A running writer process. */
export interface Writer {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  /** Resolves when stdout has a line matching `pattern`. */
  waitFor: (pattern: RegExp) => Promise<void>;
  /** The exit code once the process is gone and its output read; null when killed. */
  exited: Promise<number | null>;
}

/** Bundles the writer; `start` runs it with arguments (under `wrapper`, say strace, when given), `dispose` removes the bundle. */
export async function buildWriter(): Promise<{ start: (args: string[], wrapper?: string[]) => Writer; dispose: () => Promise<void> }> {
  const bundle = await bundleProgram(WRITER_SOURCE);
  return { start: (args, wrapper = []) => startWriter(bundle.file, args, wrapper), dispose: () => bundle.dispose() };
}

function startWriter(bundle: string, args: string[], wrapper: string[]): Writer {
  const [command, ...rest] = [...wrapper, process.execPath, bundle, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close', not 'exit': everything the writer printed before it died has been read by then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => `${stdout}\n${stderr}`,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`writer never printed ${pattern}:\n${stdout}\n${stderr}`)), 30_000);
        const check = (): void => {
          if (!pattern.test(stdout)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        void exited.then(() => {
          if (!pattern.test(stdout)) {
            clearTimeout(timer);
            reject(new Error(`writer exited before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        });
        check();
      }),
  };
}

/** The highest sequence number a loop writer announced as written (durable). */
export function lastAnnounced(output: string): number {
  const all = [...output.matchAll(/^wrote (\d+)$/gm)].map((m) => Number(m[1]));
  return all.length === 0 ? 0 : Math.max(...all);
}

/** Resolves when `home` holds more than `count` temporary files, or after 2 s. */
export async function untilTemporaryFile(home: string, count: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline && readdirSync(home).filter((name) => TEMPORARY_FILE.test(name)).length <= count) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export async function temporaryFiles(home: string): Promise<string[]> {
  return (await readdir(home)).filter((name) => TEMPORARY_FILE.test(name));
}
