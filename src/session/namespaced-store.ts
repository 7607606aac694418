import type { Entries, EntryStore } from '../store/entry-store.js';

/**
 * A view of one entry of `store` as a store of its own: MCP credentials live under one key of the
 * credential store (same file, encryption and locks) without mixing with the providers' credentials.
 */
export function namespacedStore(store: EntryStore, namespace: string): EntryStore {
  const inner = (entries: Entries): Entries => {
    const value = entries[namespace];
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Entries) : {};
  };
  return {
    get info() {
      return store.info;
    },
    read: async (options) => inner(await store.read(options)),
    update: async (change) => {
      const entries = await store.update((outer) => {
        const next = change(inner(outer));
        return next === undefined ? undefined : { ...outer, [namespace]: next };
      });
      return inner(entries);
    },
    withLock: (name, task) => store.withLock(namespacedLockName(namespace, name), task),
  };
}

/** The name in the whole store of the lock `name` of a namespace's view. */
export function namespacedLockName(namespace: string, name: string): string {
  return `${namespace}-${name}`;
}
