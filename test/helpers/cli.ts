import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Io } from '../../src/cli/output.js';

/** How a CLI run ended and what it printed. */
export interface CliResult {
  code: number | null;
  /** The signal that ended a CLI process; always null for an in-process run. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link runCli} and {@link startCli} (in process), and {@link runCliProcess} and {@link spawnCli}. */
export interface CliOptions {
  /** Becomes LOGINKIT_HOME. */
  home: string;
  /** Applied last, over the cleaned environment; `undefined` deletes a variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. runCli and runCliProcess close stdin even without it; startCli and spawnCli leave it open. */
  input?: string;
  /** Fail the run after this long (a process is killed; an in-process run is abandoned). Default 60 s. */
  timeoutMs?: number;
  /** The working directory project rules are matched against (in process; a process also starts in it). */
  cwd?: string;
}

/** Options for the CLI as a separate process. */
export interface CliProcessOptions extends CliOptions {
  /** Node binary to run the CLI with. Default: the one running the tests. */
  nodePath?: string;
  /** Arguments for node before the entry point, e.g. ['--import', 'tsx']. */
  nodeArgs?: string[];
}

/** What a running CLI has printed so far, and a way to wait for more. */
export interface CliOutput {
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the stream's whole output so far. Default stream stdout, 30 s. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the run has ended; rejects if it ran past its time limit. */
  exited: Promise<CliResult>;
}

/** A CLI run in this process, still going. */
export interface CliRun extends CliOutput {
  /** The run's stdin: write to it, end() closes it. */
  stdin: Writable;
  /** Whether `runCli` has not returned yet. */
  running(): boolean;
}

/** A CLI process still running, with its output so far. */
export interface CliProcess extends CliOutput {
  child: ChildProcessWithoutNullStreams;
}

/**
 * Absolute path of the CLI entry point, `bin/loginkit.cjs` at the repository root: its real path, the one
 * Node.js loads it under, also when the tests run from `npm test`'s compiled mirror, where bin/ is a symlink.
 */
export const CLI_ENTRY = realpathSync(fileURLToPath(new URL('../../bin/loginkit.cjs', import.meta.url)));

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_WAIT_FOR_MS = 30_000;
// A grandchild (say, a detached browser) that inherited our pipes must not keep a run from ending.
const STDIO_GRACE_MS = 2_000;
const INHERITED_VARIABLES_REMOVED = new Set(['BROWSER', 'DISPLAY', 'WAYLAND_DISPLAY', 'CI', 'NODE_TEST_CONTEXT']);

/**
 * Runs the CLI in this process, through `runCli(argv, io)` of src/cli/main.ts, with stdin closed after
 * `opts.input`, stdout and stderr collected, and the environment a CLI process would get.
 */
export async function runCli(args: readonly string[], opts: CliOptions): Promise<CliResult> {
  return startCli(args, { ...opts, input: opts.input ?? '' }).exited;
}

/** Starts the CLI in this process and returns at once, for tests that act while it runs. */
export function startCli(args: readonly string[], opts: CliOptions): CliRun {
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  const collect = (stream: 'stdout' | 'stderr'): Writable =>
    new Writable({
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, done) {
        output[stream] += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        notify();
        done();
      },
    });
  const stdin = new PassThrough();
  if (opts.input !== undefined) stdin.end(opts.input);
  // A fresh environment per run: the CLI takes LOGINKIT_PASSPHRASE out of it.
  const io: Io = {
    stdin,
    stdout: collect('stdout'),
    stderr: collect('stderr'),
    env: cliEnvironment(opts.home, opts.env ?? {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  };

  let running = true;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let deadline: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_resolve, reject) => {
    deadline = setTimeout(
      () =>
        reject(new Error(`CLI \`loginkit ${args.join(' ')}\` still running in process after ${timeoutMs} ms\n${describeOutput(output)}`)),
      timeoutMs,
    );
  });
  const finished = import('../../src/cli/main.js').then(({ runCli: runMain }) => runMain(args, io));
  const exited = Promise.race([finished, overdue])
    .then((code): CliResult => ({ code, signal: null, ...output }))
    .finally(() => {
      clearTimeout(deadline);
      running = false;
      notify();
    });
  // A test that never awaits `exited` must not crash the runner with an unhandled rejection.
  exited.catch(() => undefined);

  return {
    stdin,
    running: () => running,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    waitFor: (pattern, stream = 'stdout', waitMs = DEFAULT_WAIT_FOR_MS) =>
      waitForOutput({ pattern, stream, timeoutMs: waitMs, output, listeners, isRunning: () => running }),
    exited,
  };
}

/** Runs the CLI as a separate process (bin/loginkit.cjs) to completion, with stdin closed after `opts.input`. */
export async function runCliProcess(args: string[], opts: CliProcessOptions): Promise<CliResult> {
  return spawnCli(args, { ...opts, input: opts.input ?? '' }).exited;
}

/** Starts the CLI as a separate process and returns at once, for tests that interact with it while it runs. */
export function spawnCli(args: string[], opts: CliProcessOptions): CliProcess {
  const child = spawn(opts.nodePath ?? process.execPath, [...(opts.nodeArgs ?? []), CLI_ENTRY, ...args], {
    env: cliEnvironment(opts.home, opts.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      output[stream] += chunk;
      notify();
    });
  }
  // The CLI may exit without reading its stdin.
  child.stdin.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin.end(opts.input);

  let running = true;
  const exited = waitForExit(child, output, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS).finally(() => {
    running = false;
    notify();
  });
  // A test that never awaits `exited` must not crash the runner with an unhandled rejection.
  exited.catch(() => undefined);

  return {
    child,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    waitFor: (pattern, stream = 'stdout', timeoutMs = DEFAULT_WAIT_FOR_MS) =>
      waitForOutput({ pattern, stream, timeoutMs, output, listeners, isRunning: () => running }),
    exited,
  };
}

/** Makes a fresh empty folder for LOGINKIT_HOME. */
export async function makeHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'loginkit-home-'));
}

/** The child environment: ours minus anything that would leak the developer's setup, plus LOGINKIT_HOME and `overrides`. */
export function cliEnvironment(home: string, overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!isRemovedFromChildEnvironment(name)) env[name] = value;
  }
  env['LOGINKIT_HOME'] = home;
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function isRemovedFromChildEnvironment(name: string): boolean {
  return INHERITED_VARIABLES_REMOVED.has(name) || name.startsWith('LOGINKIT_') || /_proxy$/i.test(name);
}

function waitForExit(
  child: ChildProcessWithoutNullStreams,
  output: { stdout: string; stderr: string },
  timeoutMs: number,
): Promise<CliResult> {
  return new Promise<CliResult>((resolve, reject) => {
    let settled = false;
    let stdioGrace: NodeJS.Timeout | undefined;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(stdioGrace);
      outcome();
    };
    const result = (code: number | null, signal: NodeJS.Signals | null): CliResult => ({ code, signal, ...output });
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      settle(() => reject(new Error(`CLI still running after ${timeoutMs} ms, killed\n${describeOutput(output)}`)));
    }, timeoutMs);
    child.on('error', (error) => settle(() => reject(error)));
    child.on('close', (code, signal) => settle(() => resolve(result(code, signal))));
    child.on('exit', (code, signal) => {
      stdioGrace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        settle(() => resolve(result(code, signal)));
      }, STDIO_GRACE_MS);
    });
  });
}

interface OutputWait {
  pattern: RegExp;
  stream: 'stdout' | 'stderr';
  timeoutMs: number;
  output: { stdout: string; stderr: string };
  listeners: Set<() => void>;
  isRunning(): boolean;
}

function waitForOutput(wait: OutputWait): Promise<RegExpMatchArray> {
  return new Promise<RegExpMatchArray>((resolve, reject) => {
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      wait.listeners.delete(check);
      outcome();
    };
    const check = (): void => {
      const match = wait.output[wait.stream].match(wait.pattern);
      if (match !== null) finish(() => resolve(match));
      else if (!wait.isRunning()) {
        finish(() => reject(new Error(`CLI exited before ${wait.stream} matched ${wait.pattern}\n${describeOutput(wait.output)}`)));
      }
    };
    const timer = setTimeout(() => {
      finish(() =>
        reject(new Error(`${wait.stream} did not match ${wait.pattern} within ${wait.timeoutMs} ms\n${describeOutput(wait.output)}`)),
      );
    }, wait.timeoutMs);
    wait.listeners.add(check);
    check();
  });
}

function describeOutput(output: { stdout: string; stderr: string }): string {
  return `--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`;
}

/** A fresh home where `loginkit providers add <id>` registered the given server (plaintext store). */
export async function homeWithProvider(server: { issuer: string; clientId: string }, id = 'demo'): Promise<string> {
  const home = await makeHome();
  const added = await runCli(['providers', 'add', id, '--issuer', server.issuer, '--client-id', server.clientId], {
    home,
    env: { LOGINKIT_STORE: 'file' },
  });
  if (added.code !== 0) throw new Error(`providers add failed:\n${added.stderr}`);
  return home;
}
