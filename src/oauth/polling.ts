import { setTimeout as delay } from 'node:timers/promises';
import { LoginkitError, ProviderError, interrupted } from '../errors.js';

/** Waits `ms` milliseconds; rejects when `signal` fires. Injectable so that tests can run a schedule on a fake clock. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The real clock's sleep. */
export const realSleep: Sleep = (ms, signal) => delay(ms, undefined, signal ? { signal } : {});

/** What one poll learned. */
export type PollOutcome<T> =
  | { kind: 'done'; value: T }
  | { kind: 'pending' }
  /** The server asked to poll less often; `intervalMs` when it said by how much. */
  | { kind: 'slow_down'; intervalMs?: number | undefined };

/** Progress of a polling loop, reported after every poll. */
export interface PollProgress {
  outcome: 'pending' | 'slow_down' | 'unreachable';
  /** The interval in force now. */
  intervalMs: number;
  /** When the next poll is due (ms since the epoch, on the injected clock). */
  nextPollAt: number;
  /** Why the server could not be reached, for `unreachable`. */
  message?: string;
}

/** Options for {@link pollUntilDone}. */
export interface PollOptions<T> {
  /** One poll: resolves with its outcome; throws to end the loop (or a transient error, to back off and retry). */
  attempt(): Promise<PollOutcome<T>>;
  /** The interval the server asked for. */
  intervalMs: number;
  /** No poll is made after this time (ms since the epoch). */
  deadline: number;
  /** The error to throw once the deadline has passed. */
  expired(): Error;
  onProgress(progress: PollProgress): void;
  now: () => number;
  sleep: Sleep;
  signal?: AbortSignal | undefined;
}

/** Added to the interval for every `slow_down`, for good (RFC 8628 §3.5). */
export const SLOW_DOWN_STEP_MS = 5_000;
/** Upper bound of the wait after connection failures. */
export const MAX_BACKOFF_MS = 60_000;
/** A server asking for less than this gets this: never a busy loop against someone's server. */
export const MIN_INTERVAL_MS = 1_000;

/**
 * Polls the way RFC 8628 §3.4–3.5 asks: the first poll one interval after the start, then one per interval;
 * `slow_down` makes the interval 5 s longer for good (or the server's larger one); connection failures and
 * server errors double the wait each time, up to a minute, and a successful answer ends the backoff. Gives
 * up at the deadline, and at once when `signal` fires (with the signal's reason, as an `interrupted` error).
 */
export async function pollUntilDone<T>(options: PollOptions<T>): Promise<T> {
  const { now, signal } = options;
  let intervalMs = Math.max(options.intervalMs, MIN_INTERVAL_MS);
  let waitMs = intervalMs;
  let failures = 0;
  const pause = async (ms: number): Promise<void> => {
    try {
      await options.sleep(ms, signal);
    } catch (error) {
      if (signal?.aborted) throw interrupted(signal);
      throw error;
    }
    if (signal?.aborted) throw interrupted(signal);
  };
  const report = (outcome: PollProgress['outcome'], message?: string): void =>
    options.onProgress({ outcome, intervalMs, nextPollAt: now() + waitMs, ...(message ? { message } : {}) });

  for (;;) {
    const remaining = options.deadline - now();
    if (waitMs >= remaining) {
      await pause(Math.max(0, remaining));
      throw options.expired();
    }
    await pause(waitMs);
    let outcome: PollOutcome<T>;
    try {
      outcome = await options.attempt();
    } catch (error) {
      if (signal?.aborted) throw interrupted(signal);
      if (!isTransient(error)) throw error;
      failures += 1;
      waitMs = Math.min(intervalMs * 2 ** failures, Math.max(MAX_BACKOFF_MS, intervalMs));
      report('unreachable', error instanceof Error ? error.message.split('\n')[0] : String(error));
      continue;
    }
    failures = 0;
    if (outcome.kind === 'done') return outcome.value;
    if (outcome.kind === 'slow_down') intervalMs = Math.max(intervalMs + SLOW_DOWN_STEP_MS, outcome.intervalMs ?? 0);
    waitMs = intervalMs;
    report(outcome.kind);
  }
}

/** Failures worth waiting out: the server could not be reached, timed out, was overloaded or failed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ProviderError) {
    return (
      (error.status ?? 0) >= 500 || error.status === 429 || error.error === 'temporarily_unavailable' || error.error === 'server_error'
    );
  }
  return error instanceof LoginkitError && (error.code === 'network' || error.code === 'timeout');
}
