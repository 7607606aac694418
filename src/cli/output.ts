import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { LoginkitError, SignInTimeoutError, causeChain } from '../index.js';

/** Stable exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2, loginRequired: 3, interrupted: 130 } as const;

/** Where the CLI reads (keys, pastes, prompts) and writes (data to stdout, people-facing text to stderr). Injectable for tests. */
export interface Io {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** When stdout is this process's own: its file descriptor, for a write that needs no stream. */
  stdoutFd?: number;
  /** The working directory project rules are matched against; default `process.cwd()`. */
  cwd?: string;
}

/** Writes data (not people-facing text) to stdout; the fast path writes the descriptor directly. */
export function writeData(io: Io, text: string): void {
  if (io.stdoutFd === undefined) {
    io.stdout.write(text);
    return;
  }
  try {
    writeSync(io.stdoutFd, text);
  } catch (error) {
    // A non-blocking pipe that is full: let the stream queue it instead.
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    io.stdout.write(text);
  }
}

/** Writes one line of people-facing text to stderr. */
export function say(io: Io, line = ''): void {
  io.stderr.write(`${line}\n`);
}

/**
 * Version of every JSON document the CLI prints (`schemaVersion`, the first key). It changes only when a
 * field is removed or changes meaning; new fields may appear without it changing.
 */
export const JSON_SCHEMA_VERSION = 1;

/** Writes a JSON document to stdout, `schemaVersion` first. */
export function printJson(io: Io, value: object): void {
  io.stdout.write(`${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...value }, null, 2)}\n`);
}

/** A usage error: the command line itself is wrong (exit 2). */
export class UsageError extends LoginkitError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** The exit code for an error. */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof LoginkitError)) return EXIT.failure;
  switch (error.code) {
    case 'login_required':
      return EXIT.loginRequired;
    case 'usage':
    case 'unknown_provider':
      return EXIT.usage;
    case 'interrupted':
      return EXIT.interrupted;
    default:
      return EXIT.failure;
  }
}

/** Prints an error as one or two lines (with the stack and causes only when LOGINKIT_DEBUG=1). */
export function reportError(io: Io, error: unknown, json: boolean): void {
  const message = error instanceof SignInTimeoutError ? cliTimeoutMessage(error) : error instanceof Error ? error.message : String(error);
  const code = error instanceof LoginkitError ? error.code : 'internal';
  const [first, ...rest] = message.split('\n');
  say(io, `error: ${first}`);
  for (const line of rest) say(io, line);
  if (!(error instanceof LoginkitError) && io.env.LOGINKIT_DEBUG !== '1') {
    say(io, 'This is a bug in loginkit. Run again with LOGINKIT_DEBUG=1 for details, and report it.');
  }
  if (io.env.LOGINKIT_DEBUG === '1') {
    for (const current of causeChain(error, 5)) say(io, current instanceof Error ? (current.stack ?? current.message) : String(current));
  }
  if (json) printJson(io, { error: { code, message } });
}

/** A sign-in timeout in the CLI's words: the flag that gives more time, not the library option. */
function cliTimeoutMessage(error: SignInTimeoutError): string {
  return `Nobody completed the sign-in within ${Math.round(error.waitedMs / 1000)} s.\nRun the login again (use --timeout SECONDS for more time).`;
}
