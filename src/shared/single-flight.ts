/**
 * A per-process single flight: while a call for `key` runs, every other call for the same key gets its
 * promise instead of starting another (the cross-process side is the store's lock).
 */
export function createSingleFlight(): <T>(key: string, run: () => Promise<T>) => Promise<T> {
  const inflight = new Map<string, Promise<unknown>>();
  return <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const pending = inflight.get(key) as Promise<T> | undefined;
    if (pending) return pending;
    const started = run().finally(() => inflight.delete(key));
    inflight.set(key, started);
    return started;
  };
}
