import { LoginRequiredError, ProviderError } from '../errors.js';
import type { FetchLike } from '../oauth/http.js';
import type { ServerConnection } from '../oauth/server.js';
import type { EntryStore } from '../store/entry-store.js';
import {
  type OAuthCredential,
  credentialKey,
  needsRefresh,
  parseCredential,
  sameTokens,
  serializeCredential,
  toCredential,
} from './credential.js';

/** What a TokenSession needs from its surroundings. */
export interface SessionDeps {
  store: EntryStore;
  http: FetchLike;
  timeoutMs: number;
  now: () => number;
}

/**
 * The token lifecycle of one store: reads credentials, refreshes them when due, and persists the result
 * before handing out a new access token. Refreshes are single-flight: concurrent callers in this process
 * share one promise, and processes share a lock per credential, re-reading the store once they hold it so
 * that only one of them ever redeems a given refresh token.
 */
export class TokenSession {
  readonly #deps: SessionDeps;
  readonly #inflight = new Map<string, Promise<OAuthCredential>>();

  constructor(deps: SessionDeps) {
    this.#deps = deps;
  }

  /** The stored credential for provider and profile, or undefined. */
  async credential(provider: string, profile?: string): Promise<OAuthCredential | undefined> {
    const key = credentialKey(provider, profile);
    const entries = await this.#deps.store.read();
    return parseCredential(entries[key], key, this.#deps.store.info.location);
  }

  /** Every stored credential. */
  async credentials(): Promise<OAuthCredential[]> {
    const entries = await this.#deps.store.read();
    return Object.keys(entries)
      .sort()
      .flatMap((key) => parseCredential(entries[key], key, this.#deps.store.info.location) ?? []);
  }

  /** A credential whose access token is fresh enough to use now, refreshing first when due. */
  async freshCredential(provider: string, profile?: string): Promise<OAuthCredential> {
    const current = await this.credential(provider, profile);
    if (!current) throw new LoginRequiredError(provider, `Not signed in to "${provider}".`);
    if (!needsRefresh(current, this.#deps.now())) return current;
    return this.refresh(current);
  }

  /** Refreshes `seen` once for everyone who asks at the same time; resolves with the newest credential. */
  refresh(seen: OAuthCredential): Promise<OAuthCredential> {
    const key = credentialKey(seen.provider, seen.profile);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#refreshUnderLock(seen).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Stores a credential from a new sign-in, replacing the profile's previous one. */
  async save(credential: OAuthCredential): Promise<void> {
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
    return { metadata: credential.server, clientId: credential.clientId, http: this.#deps.http, timeoutMs };
  }

  async #refreshUnderLock(seen: OAuthCredential): Promise<OAuthCredential> {
    const key = credentialKey(seen.provider, seen.profile);
    return this.#deps.store.withLock(`refresh-${key}`, async () => {
      // Another process may have refreshed (or signed in again) while we waited for the lock.
      const current = await this.credential(seen.provider, seen.profile);
      if (!current) throw new LoginRequiredError(seen.provider, `Not signed in to "${seen.provider}".`);
      if (!needsRefresh(current, this.#deps.now())) return current;
      if (!current.refreshToken) {
        throw new LoginRequiredError(seen.provider, `The sign-in for "${seen.provider}" has expired and cannot be renewed.`);
      }
      const { refreshTokens } = await import('../oauth/grants.js');
      let refreshed: OAuthCredential;
      try {
        const tokens = await refreshTokens(
          this.connectionFor(current),
          { ...current, refreshToken: current.refreshToken },
          this.#deps.now,
          `Token refresh for "${seen.provider}"`,
        );
        refreshed = toCredential(current, tokens);
      } catch (error) {
        if (error instanceof ProviderError && error.error === 'invalid_grant') {
          const latest = await this.credential(seen.provider, seen.profile);
          if (latest && !sameTokens(latest, current) && !needsRefresh(latest, this.#deps.now())) return latest;
          throw new LoginRequiredError(
            seen.provider,
            `The sign-in for "${seen.provider}" has expired or was revoked (the server rejected the refresh token).`,
            { cause: error },
          );
        }
        throw error;
      }
      let kept: OAuthCredential | undefined;
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
