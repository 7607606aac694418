/**
 * How a store protects what it holds, as shown by `loginkit status`. `not created yet`: no store file
 * exists and `auto` has not yet chosen a backend (it does when the first credential is saved).
 * `unreachable`: a shared store whose database could not be reached to tell.
 */
export type Protection =
  | 'plaintext file'
  | 'encrypted (keychain)'
  | 'encrypted (passphrase)'
  | 'encrypted (data key)'
  | 'memory only'
  | 'not created yet'
  | 'unreachable';

/** Where and how a store keeps its entries. */
export interface StoreInfo {
  /** Backend name: `keychain`, `passphrase`, `file`, `memory`, `postgres`, `redis`, or `auto` before one was chosen. */
  readonly backend: string;
  readonly protection: Protection;
  /** The file that holds the entries, a shared store's URL (password masked), or a description. */
  readonly location: string;
}

/** The entries of a store: opaque JSON values by key. The store knows nothing of what they mean. */
export type Entries = Readonly<Record<string, unknown>>;

/**
 * A place that keeps credential entries safe. Reads are cheap when nothing changed; every update is a
 * serialised read-modify-write, so concurrent writers never lose each other's entries.
 */
export interface EntryStore {
  readonly info: StoreInfo;
  /**
   * The current entries, served from memory while the backing file has not changed. Whether it changed is
   * checked at most every few milliseconds; `fresh` checks now (for decisions made under a lock).
   */
  read(options?: { fresh?: boolean }): Promise<Entries>;
  /**
   * Applies `change` to the freshest entries under the store's write lock and persists the result
   * before resolving. `change` returns the new entries, or undefined to write nothing.
   */
  update(change: (entries: Entries) => Entries | undefined): Promise<Entries>;
  /**
   * Runs `task` while holding the named lock, shared by every process that uses this store. A store that
   * learns when the lock is released (a shared store) may call `options.whileWaiting` then, and resolve
   * with its result instead of taking the lock when it is not undefined: the work was done meanwhile.
   */
  withLock<T>(name: string, task: () => Promise<T>, options?: LockOptions<T>): Promise<T>;
  /**
   * Releases what the store holds open (a shared store's database connections). Optional: a store that
   * holds nothing open between calls need not have it. The store must not be used afterwards.
   */
  close?(): Promise<void>;
}

/** Options of {@link EntryStore.withLock}. */
export interface LockOptions<T> {
  /** Checks, while waiting, whether the lock is still needed: a result means no. */
  readonly whileWaiting?: () => Promise<T | undefined>;
}
