import { NetworkError, ProviderError } from '../errors.js';

/** How transient failures are retried: bounded exponential backoff with full jitter, honouring `Retry-After`. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** Largest delay between two attempts, `Retry-After` included. */
  maxDelayMs: number;
  /** No retry starts later than this after the first attempt. */
  budgetMs: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** The default: 4 attempts, 250 ms doubling, at most 5 s apart, none started after 20 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
  budgetMs: 20_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** Whether trying again later may succeed: connection failures, timeouts, 5xx and 429 (not TLS trust failures). */
export function isTransient(error: unknown): boolean {
  if (error instanceof NetworkError) return error.transient;
  return error instanceof ProviderError && error.status !== undefined && (error.status >= 500 || error.status === 429);
}

/** Runs `task`, retrying transient failures according to `policy`; rethrows the last failure. */
export async function withRetries<T>(task: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (!isTransient(error) || attempt >= policy.attempts) throw error;
      const backoff = policy.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const asked = error instanceof ProviderError && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : 0;
      // A server that asks for a longer pause than we are willing to wait is not retried early.
      if (asked > policy.maxDelayMs) throw error;
      const delay = Math.max(backoff, asked);
      if (Date.now() + delay - started > policy.budgetMs) throw error;
      await policy.sleep(delay);
    }
  }
}
