import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

// A helper program (a key command, a data key command) must never hang loginkit, nor flood it. A command
// that forks — `sh -c "sleep 30"`, `sh -c "yes"`, a script that leaves a background job behind — hands its
// stdout to its children: killing the command alone leaves them running and holding the pipe, and waiting
// for the pipe to close waits for them. So the command runs in a process group of its own, the whole group
// is killed at the deadline or the output cap, and loginkit stops reading the pipe at once (what Go's
// os/exec does with WaitDelay).

/**
 * How long to wait, once the command exited, for the children it left holding stdout to let go of it;
 * then they are killed and the output read so far is the output.
 */
const PIPE_GRACE_MS = 250;

/**
 * Signals that end loginkit. A group of its own no longer gets the terminal's Ctrl-C, so loginkit passes
 * them on: it kills the group, then lets the signal take its course when nothing else listens for it.
 */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** How a bounded command ended: its stdout when it exited 0, else why not. */
export type BoundedOutcome =
  | { kind: 'ok'; stdout: Buffer }
  | { kind: 'failed'; status: number | string }
  | { kind: 'not_found' }
  | { kind: 'timeout' }
  | { kind: 'too_large' };

/** Bounds of {@link runBoundedCommand}. */
export interface CommandBounds {
  /** The child's whole environment (see childEnvironment). */
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** More stdout than this ends the command as `too_large`. */
  readonly maxOutputBytes: number;
}

/**
 * Runs `argv` without a shell in a process group of its own, stdin and stderr closed, collecting stdout.
 * At `timeoutMs` or past `maxOutputBytes` the group is killed and the outcome settles at once; after the
 * command exits, children still holding stdout get {@link PIPE_GRACE_MS}, then the group is killed.
 */
export function runBoundedCommand(argv: readonly string[], bounds: CommandBounds): Promise<BoundedOutcome> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    let child: ChildProcessByStdio<null, Readable, null>;
    try {
      // detached: a new process group (and session), so that the group can be killed as one.
      child = spawn(file as string, args, {
        shell: false,
        env: bounds.env,
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true,
        windowsHide: true,
      });
    } catch (error) {
      resolve({ kind: 'failed', status: (error as NodeJS.ErrnoException).code ?? 'unknown' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is gone already (or this platform has none): end the command itself.
        child.kill('SIGKILL');
      }
    };
    const stopWatching = killOnExit(killGroup);
    const settle = (outcome: BoundedOutcome): void => {
      if (settled) return;
      settled = true;
      stopWatching();
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout.destroy();
      resolve(outcome);
    };
    const exited = (code: number | null, signal: NodeJS.Signals | null): BoundedOutcome =>
      code === 0 ? { kind: 'ok', stdout: Buffer.concat(chunks) } : { kind: 'failed', status: code ?? signal ?? 'unknown' };
    const end = (outcome: BoundedOutcome): void => {
      killGroup();
      settle(outcome);
    };
    const timer = setTimeout(() => end({ kind: 'timeout' }), bounds.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bounds.maxOutputBytes) end({ kind: 'too_large' });
      else chunks.push(chunk);
    });
    child.stdout.on('error', () => undefined);
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(error.code === 'ENOENT' ? { kind: 'not_found' } : { kind: 'failed', status: error.code ?? 'unknown' });
    });
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => {
        killGroup();
        settle(exited(code, signal));
      }, PIPE_GRACE_MS);
    });
    child.on('close', (code, signal) => settle(exited(code, signal)));
  });
}

/**
 * Until the returned function is called, kills the group (`kill`) when loginkit exits or is sent one of
 * {@link ENDING_SIGNALS}; the signal is raised again once loginkit's handler is gone, unless the
 * application listens for it itself.
 */
function killOnExit(kill: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    kill();
    stop();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const stop = (): void => {
    process.off('exit', kill);
    for (const signal of ENDING_SIGNALS) process.off(signal, onSignal);
  };
  process.once('exit', kill);
  for (const signal of ENDING_SIGNALS) process.once(signal, onSignal);
  return stop;
}
