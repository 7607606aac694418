import type { Entries, EntryStore, StoreInfo } from './entry-store.js';

/** A store that keeps entries in this process only; nothing is written anywhere. */
export function createMemoryStore(): EntryStore {
  let entries: Entries = {};
  const locks = new Map<string, Promise<unknown>>();
  const info: StoreInfo = { backend: 'memory', protection: 'memory only', location: 'memory' };
  return {
    info,
    read: async () => entries,
    update: async (change) => {
      entries = change(entries) ?? entries;
      return entries;
    },
    withLock: async (name, task) => {
      const previous = locks.get(name) ?? Promise.resolve();
      const run = previous.then(task, task);
      locks.set(
        name,
        run.catch(() => undefined),
      );
      return run;
    },
  };
}
