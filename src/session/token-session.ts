import { LoginRequiredError, ProviderError } from '../errors.js';
import type { FetchLike } from '../oauth/http.js';
import type { ServerConnection } from '../oauth/server.js';
import type { EntryStore } from '../store/entry-store.js';
import {
  type Credential,
  DEFAULT_PROFILE,
  type OAuthCredential,
  activeProfileKey,
  credentialKey,
  isAccessTokenUsable,
  needsRefresh,
  parseCredential,
  sameTokens,
  serializeCredential,
  toCredential,
} from './credential.js';
import { type RetryPolicy, isTransient, withRetries } from './retry.js';

/** What a TokenSession needs from its surroundings. */
export interface SessionDeps {
  store: EntryStore;
  http: FetchLike;
  timeoutMs: number;
  now: () => number;
  retry: RetryPolicy;
  /** Told when a problem was worked around (e.g. a refresh failed but the current token is still valid). */
  onWarning: (message: string) => void;
}

/**
 * The token lifecycle of one store: reads credentials, refreshes them when due, and persists the result
 * before handing out a new access token. Refreshes are single-flight: concurrent callers in this process
 * share one promise, and processes share a lock per credential, re-reading the store once they hold it so
 * that only one of them ever redeems a given refresh token.
 */
export class TokenSession {
  readonly #deps: SessionDeps;
  readonly #inflight = new Map<string, Promise<Credential>>();
  /** Parsed credentials by stored entry: the store hands out the same frozen entries until the file changes. */
  readonly #parsed = new WeakMap<object, Credential>();

  constructor(deps: SessionDeps) {
    this.#deps = deps;
  }

  /** The stored credential for provider and profile, or undefined. */
  async credential(provider: string, profile?: string, fresh = false): Promise<Credential | undefined> {
    const key = credentialKey(provider, profile);
    const entries = await this.#deps.store.read({ fresh });
    return this.#parse(entries[key], key);
  }

  #parse(entry: unknown, key: string): Credential | undefined {
    if (typeof entry !== 'object' || entry === null) return parseCredential(entry, key, this.#deps.store.info.location);
    let credential = this.#parsed.get(entry);
    if (!credential) {
      credential = parseCredential(entry, key, this.#deps.store.info.location);
      if (credential) this.#parsed.set(entry, credential);
    }
    return credential;
  }

  /** Every stored credential. */
  async credentials(): Promise<Credential[]> {
    const entries = await this.#deps.store.read();
    return Object.keys(entries)
      .filter((key) => key.includes('/'))
      .sort()
      .flatMap((key) => this.#parse(entries[key], key) ?? []);
  }

  /** A credential ready to use now: an API key as stored, an OAuth one refreshed first when due. */
  async freshCredential(provider: string, profile?: string): Promise<Credential> {
    const current = await this.credential(provider, profile);
    if (!current) {
      const named = profile && profile !== DEFAULT_PROFILE ? ` (profile "${profile}")` : '';
      throw new LoginRequiredError(provider, `Not signed in to "${provider}"${named}.`, undefined, profile);
    }
    if (current.kind !== 'oauth' || !needsRefresh(current, this.#deps.now())) return current;
    return this.refresh(current);
  }

  /** The profile used for `provider` when none is named: the one chosen with `switch`, else `default`. */
  async activeProfile(provider: string): Promise<string> {
    const value = (await this.#deps.store.read())[activeProfileKey(provider)];
    return typeof value === 'string' ? value : DEFAULT_PROFILE;
  }

  /** Makes `profile` the one used for `provider` when none is named. */
  async setActiveProfile(provider: string, profile: string): Promise<void> {
    await this.#deps.store.update((entries) => ({ ...entries, [activeProfileKey(provider)]: profile }));
  }

  /**
   * Refreshes `seen` once for everyone who asks at the same time; resolves with the newest credential.
   * With `force`, refreshes even a token that is not due (a resource server rejected it), unless someone
   * else already replaced it.
   */
  refresh(seen: OAuthCredential, force = false): Promise<Credential> {
    const key = credentialKey(seen.provider, seen.profile);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#refreshUnderLock(seen, force).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Stores a credential from a new sign-in, replacing the profile's previous one. */
  async save(credential: Credential): Promise<void> {
    const key = credentialKey(credential.provider, credential.profile);
    await this.#deps.store.update((entries) => ({ ...entries, [key]: serializeCredential(credential) }));
  }

  /** Removes a credential from the store; true when there was one. */
  async remove(provider: string, profile?: string): Promise<boolean> {
    const key = credentialKey(provider, profile);
    let removed = false;
    await this.#deps.store.update((entries) => {
      if (!(key in entries)) return undefined;
      removed = true;
      const { [key]: _gone, ...rest } = entries;
      return rest;
    });
    return removed;
  }

  /** The connection to the server a credential came from. */
  connectionFor(credential: OAuthCredential, timeoutMs = this.#deps.timeoutMs): ServerConnection {
    return {
      metadata: credential.server,
      clientId: credential.clientId,
      http: this.#deps.http,
      timeoutMs,
      jsonBodies: credential.jsonBodies,
    };
  }

  async #refreshUnderLock(seen: OAuthCredential, force: boolean): Promise<Credential> {
    const key = credentialKey(seen.provider, seen.profile);
    return this.#deps.store.withLock(`refresh-${key}`, async () => {
      // Another process may have refreshed (or signed in again) while we waited for the lock.
      const current = await this.credential(seen.provider, seen.profile, true);
      if (!current) throw new LoginRequiredError(seen.provider, `Not signed in to "${seen.provider}".`);
      if (current.kind !== 'oauth') return current;
      const wanted = needsRefresh(current, this.#deps.now()) || (force && sameTokens(current, seen));
      if (!wanted) return current;
      if (!current.refreshToken) {
        throw new LoginRequiredError(seen.provider, `The sign-in for "${seen.provider}" has expired and cannot be renewed.`);
      }
      const { refreshTokens } = await import('../oauth/grants.js');
      let refreshed: OAuthCredential;
      try {
        const tokens = await withRetries(
          () =>
            refreshTokens(
              this.connectionFor(current),
              { ...current, refreshToken: current.refreshToken as string },
              this.#deps.now,
              `Token refresh for "${seen.provider}"`,
            ),
          this.#deps.retry,
        );
        refreshed = toCredential(current, tokens);
      } catch (error) {
        if (isTransient(error) && !force && isAccessTokenUsable(current, this.#deps.now())) {
          const until = current.expiresAt === null ? 'no expiry' : `valid until ${new Date(current.expiresAt).toISOString()}`;
          this.#deps.onWarning(`${(error as Error).message.split('\n')[0]} Using the current access token (${until}).`);
          return current;
        }
        if (error instanceof ProviderError && error.error === 'invalid_grant') {
          const latest = await this.credential(seen.provider, seen.profile, true);
          if (latest && !sameTokens(latest, current) && (latest.kind !== 'oauth' || !needsRefresh(latest, this.#deps.now()))) return latest;
          throw new LoginRequiredError(
            seen.provider,
            `The sign-in for "${seen.provider}" has expired or was revoked (the server rejected the refresh token).`,
            { cause: error },
          );
        }
        throw error;
      }
      let kept: Credential | undefined;
      await this.#deps.store.update((entries) => {
        const latest = parseCredential(entries[key], key, this.#deps.store.info.location);
        if (!latest || !sameTokens(latest, current)) {
          // Signed out, or signed in again, while we refreshed: that is newer than our refresh, so it stays.
          kept = latest;
          return undefined;
        }
        kept = refreshed;
        return { ...entries, [key]: serializeCredential(refreshed) };
      });
      if (!kept) throw new LoginRequiredError(seen.provider, `Signed out of "${seen.provider}" while the token was being refreshed.`);
      return kept;
    });
  }
}
