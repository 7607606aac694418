import { LoginRequiredError, NetworkError, ProviderError } from '../errors.js';
import type { FetchLike } from '../net/http.js';
import type { ServerConnection } from '../oauth/server.js';
import type { EntryStore } from '../store/entry-store.js';
import {
  type Credential,
  DEFAULT_PROFILE,
  type LinkedFile,
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
import { mcpConnection } from './mcp-binding.js';
import { type RetryPolicy, isTransient, withRetries } from './retry.js';

/** The store keys that hold credentials (`provider/profile`), sorted; the others are settings. */
function credentialKeys(entries: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(entries)
    .filter((key) => key.includes('/'))
    .sort();
}

/** How long logout waits for the server to revoke a token. */
const REVOCATION_TIMEOUT_MS = 10_000;

/**
 * The store lock a refresh of the credential under `key` holds: whoever holds it knows that no refresh of
 * that credential is under way (a store migration holds it while the credential moves).
 */
export function refreshLockName(key: string): string {
  return `refresh-${key}`;
}

/**
 * What ending a credential did. `revocation`: `revoked` (the server confirmed), `unsupported` (it has no
 * revocation endpoint), `failed` (unreachable or refused; `revocationError` says why), `local_only` (an API key).
 */
export interface Ending {
  removed: boolean;
  revocation: 'revoked' | 'unsupported' | 'failed' | 'local_only';
  revocationError?: string;
}

/** What a TokenSession needs from its surroundings. */
export interface SessionDeps {
  store: EntryStore;
  http: FetchLike;
  timeoutMs: number;
  now: () => number;
  retry: RetryPolicy;
  /** Told when a problem was worked around (e.g. a refresh failed but the current token is still valid). */
  onWarning: (message: string) => void;
  /**
   * The fetch for one credential's refresh and revocation requests; default `http`. MCP credentials get one
   * guarded against SSRF, since their endpoints were named by a server rather than chosen by the person.
   */
  httpFor?: (credential: OAuthCredential) => FetchLike;
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
    const credential = this.#parse(entries[key], key);
    return credential?.kind === 'oauth' && credential.link ? this.#followLink(credential, key) : credential;
  }

  /**
   * A linked credential with the tokens its tool's file holds now. Tokens the tool refreshed are adopted
   * and saved, so that loginkit's copy is never a consumed refresh token (redeeming one would make a server
   * with reuse detection revoke the grant of both tools); tokens older than loginkit's never are. A file
   * that is gone, signed out, unreadable for the moment or unsafe leaves loginkit's copy in use.
   */
  async #followLink(stored: OAuthCredential, key: string): Promise<OAuthCredential> {
    const linked = await import('./linked-file.js');
    const link = stored.link as LinkedFile;
    const read = await linked.readLinkedFile(link);
    if (read.state === 'unsafe')
      this.#deps.onWarning(read.problem.replace('\n', ' Until then loginkit uses its own copy of the sign-in.\n'));
    if (read.state === 'unsafe' || read.state === 'unreadable') return stored;
    if (read.state === 'missing' || read.state === 'signed-out') {
      return link.detached === read.state
        ? stored
        : this.#saveFollowed(stored, key, relink(stored, { detached: read.state, pending: undefined }));
    }
    const found = read.tokens;
    const seen = linked.tokenFingerprint(found.refreshToken);
    if (found.accessToken === stored.accessToken && found.refreshToken === (stored.refreshToken ?? found.refreshToken)) {
      // The file holds loginkit's tokens: nothing pending; an expiry only the file tells (Codex's schedule) is taken.
      const expiresAt = stored.expiresAt ?? found.expiresAt;
      if (link.seen === seen && !link.pending && !link.detached && expiresAt === stored.expiresAt) return stored;
      return this.#saveFollowed(stored, key, { ...relink(stored, { seen, pending: undefined, detached: undefined }), expiresAt });
    }
    // A moment in which the file held older tokens (restored, or rewritten from a stale copy) must not fork them.
    if (linked.isOlderThanHeld(found, stored, link.seen)) return stored;
    const adopted: OAuthCredential = {
      ...relink(stored, { seen, pending: undefined, detached: undefined }),
      accessToken: found.accessToken,
      refreshToken: found.refreshToken ?? stored.refreshToken,
      idToken: found.idToken ?? stored.idToken,
      expiresAt: found.expiresAt,
      obtainedAt: this.#deps.now(),
    };
    return this.#saveFollowed(stored, key, adopted);
  }

  /** Saves what following the link changed, unless the stored credential changed meanwhile. */
  async #saveFollowed(stored: OAuthCredential, key: string, followed: OAuthCredential): Promise<OAuthCredential> {
    await this.#deps.store.update((entries) => {
      const latest = parseCredential(entries[key], key, this.#deps.store.info.location);
      return sameTokens(latest, stored) ? { ...entries, [key]: serializeCredential(followed) } : undefined;
    });
    return followed;
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

  /** Every stored credential; a damaged one throws (see {@link credentialsOf} to read one provider's alone). */
  async credentials(): Promise<Credential[]> {
    const entries = await this.#deps.store.read();
    return credentialKeys(entries).flatMap((key) => this.#parse(entries[key], key) ?? []);
  }

  /** The providers that have a stored credential, read from the keys alone (a damaged record still counts). */
  async storedProviders(): Promise<string[]> {
    const entries = await this.#deps.store.read();
    return [...new Set(credentialKeys(entries).map((key) => key.slice(0, key.indexOf('/'))))];
  }

  /** The stored credentials of one provider: another provider's damaged record does not stand in the way. */
  async credentialsOf(provider: string): Promise<Credential[]> {
    const entries = await this.#deps.store.read();
    return credentialKeys(entries)
      .filter((key) => key.startsWith(`${provider}/`))
      .flatMap((key) => this.#parse(entries[key], key) ?? []);
  }

  /** A credential ready to use now: an API key as stored, an OAuth one refreshed first when due. */
  async freshCredential(provider: string, profile?: string): Promise<Credential> {
    const current = await this.credential(provider, profile);
    if (!current) {
      const named = profile && profile !== DEFAULT_PROFILE ? ` (profile "${profile}")` : '';
      throw new LoginRequiredError(provider, `Not signed in to "${provider}"${named}.`, undefined, profile);
    }
    // A linked sign-in whose refreshed tokens could not be written back yet is written back now.
    if (current.kind !== 'oauth' || (!needsRefresh(current, this.#deps.now()) && !current.link?.pending)) return current;
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
    const pending = this.#inflight.get(key);
    if (pending && force) {
      // A refresh already under way for a token that was merely due may keep the current token (the server
      // is down, the token not yet expired): that does not renew a rejected token, so ask again, forced.
      return pending.then((result) => (sameTokens(result, seen) ? this.refresh(seen, true) : result));
    }
    if (pending) return pending;
    const started = this.#refreshUnderLock(seen, force)
      .catch((error: unknown) => this.#keepUsableOnStoreOutage(seen, force, error))
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, started);
    return started;
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

  /**
   * Ends a credential: revokes an OAuth one at its server (RFC 7009: refresh token first, since revoking it
   * usually ends the whole grant, then the access token; bounded by `timeoutMs`), then removes it locally
   * whatever the server said. API keys can only be revoked in the provider's console.
   */
  async end(credential: Credential, timeoutMs = REVOCATION_TIMEOUT_MS): Promise<Ending> {
    if (credential.kind === 'api_key')
      return { removed: await this.remove(credential.provider, credential.profile), revocation: 'local_only' };
    const { revokeToken } = await import('../oauth/grants.js');
    const connection = this.connectionFor(credential, timeoutMs);
    const outcomes = [];
    if (credential.refreshToken) outcomes.push(await revokeToken(connection, credential.refreshToken, 'refresh_token'));
    outcomes.push(await revokeToken(connection, credential.accessToken, 'access_token'));
    const removed = await this.remove(credential.provider, credential.profile);
    const failed = outcomes.find((outcome) => outcome.outcome === 'failed');
    if (failed) return { removed, revocation: 'failed', ...(failed.error ? { revocationError: failed.error } : {}) };
    return { removed, revocation: outcomes.every((o) => o.outcome === 'unsupported') ? 'unsupported' : 'revoked' };
  }

  /** The connection to the server a credential came from. */
  connectionFor(credential: OAuthCredential, timeoutMs = this.#deps.timeoutMs): ServerConnection {
    return {
      metadata: credential.server,
      clientId: credential.clientId,
      http: this.#deps.httpFor?.(credential) ?? this.#deps.http,
      timeoutMs,
      jsonBodies: credential.jsonBodies,
      ...(credential.mcp ? mcpConnection(credential.mcp) : {}),
    };
  }

  /**
   * Writes tokens loginkit holds into a linked tool's file, and returns the credential with the link's new
   * state: written, detached (the file is gone or signed out: nothing is written there), or pending (the
   * file could not be read or written just now: said on stderr, and tried again on the next use).
   */
  async #writeBack(held: OAuthCredential): Promise<OAuthCredential> {
    const link = held.link as LinkedFile;
    if (link.detached) return held;
    const tokens = { accessToken: held.accessToken, refreshToken: held.refreshToken, idToken: held.idToken, expiresAt: held.expiresAt };
    const linked = await import('./linked-file.js');
    let reason: string;
    try {
      const outcome = await linked.writeLinkedTokens(link, tokens, this.#deps.now());
      if (outcome === 'written') return relink(held, { seen: linked.tokenFingerprint(held.refreshToken), pending: undefined });
      if (outcome === 'missing' || outcome === 'signed-out') return relink(held, { detached: outcome, pending: undefined });
      reason = outcome === 'unsafe' ? 'it fails the owner and mode checks' : `it was not ${link.tool}'s format at that moment`;
    } catch (error) {
      reason = (error as Error).message.split('\n')[0] as string;
    }
    this.#deps.onWarning(
      `Could not write the refreshed sign-in back to ${link.file} (${reason}); loginkit will write it back on its next use.`,
    );
    return relink(held, { pending: true });
  }

  /**
   * A shared store that cannot be reached (its lock, or its fresh read) must not take away an access token
   * that is still valid: it is used, with a warning. Anything else, or an expired token, is an error.
   */
  #keepUsableOnStoreOutage(seen: OAuthCredential, force: boolean, error: unknown): Credential {
    if (!(error instanceof NetworkError) || !error.transient || force || !isAccessTokenUsable(seen, this.#deps.now())) throw error;
    const until = seen.expiresAt === null ? 'no expiry' : `valid until ${new Date(seen.expiresAt).toISOString()}`;
    this.#deps.onWarning(`${error.message.split('\n')[0]} Using the current access token (${until}).`);
    return seen;
  }

  async #refreshUnderLock(seen: OAuthCredential, force: boolean): Promise<Credential> {
    const key = credentialKey(seen.provider, seen.profile);
    // Woken when another machine's refresh ends: its result, read without the lock, makes ours unneeded.
    const whileWaiting = async (): Promise<Credential | undefined> => {
      const latest = await this.credential(seen.provider, seen.profile, true);
      if (latest?.kind !== 'oauth' || force) return undefined;
      return sameTokens(latest, seen) || needsRefresh(latest, this.#deps.now()) ? undefined : latest;
    };
    const underToolLock = async <T>(task: () => Promise<T>): Promise<T> => {
      if (!seen.link) return task();
      // The tool's own lock too (Codex's auth.json.lock): its writes then never interleave with ours.
      const { withLinkedFileLock } = await import('./linked-file.js');
      return withLinkedFileLock(seen.link, task, this.#deps.onWarning);
    };
    return this.#deps.store.withLock(
      refreshLockName(key),
      () =>
        underToolLock(async () => {
          // Another process may have refreshed (or signed in again) while we waited for the lock.
          const found = await this.credential(seen.provider, seen.profile, true);
          if (!found) throw new LoginRequiredError(seen.provider, `Not signed in to "${seen.provider}".`);
          if (found.kind !== 'oauth') return found;
          const current = found.link?.pending ? await this.#saveFollowed(found, key, await this.#writeBack(found)) : found;
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
            // The linked tool's file first: if loginkit stops before its own store is written, the next read adopts them.
            if (current.link) refreshed = await this.#writeBack(refreshed);
          } catch (error) {
            if (isTransient(error) && !force && isAccessTokenUsable(current, this.#deps.now())) {
              const until = current.expiresAt === null ? 'no expiry' : `valid until ${new Date(current.expiresAt).toISOString()}`;
              this.#deps.onWarning(`${(error as Error).message.split('\n')[0]} Using the current access token (${until}).`);
              return current;
            }
            if (error instanceof ProviderError && error.error === 'invalid_grant') {
              const latest = await this.credential(seen.provider, seen.profile, true);
              if (latest && !sameTokens(latest, current) && (latest.kind !== 'oauth' || !needsRefresh(latest, this.#deps.now())))
                return latest;
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
            // A linked credential may already hold these tokens, adopted from the tool's file we just wrote.
            if (!latest || !(sameTokens(latest, current) || sameTokens(latest, refreshed))) {
              // Signed out, or signed in again, while we refreshed: that is newer than our refresh, so it stays.
              kept = latest;
              return undefined;
            }
            kept = refreshed;
            return { ...entries, [key]: serializeCredential(refreshed) };
          });
          if (!kept) throw new LoginRequiredError(seen.provider, `Signed out of "${seen.provider}" while the token was being refreshed.`);
          return kept;
        }),
      { whileWaiting },
    );
  }
}

/** `credential` with its link's state changed (an undefined field is removed). */
function relink(credential: OAuthCredential, patch: Partial<Pick<LinkedFile, 'seen' | 'pending' | 'detached'>>): OAuthCredential {
  const link: Record<string, unknown> = { ...credential.link, ...patch };
  for (const name of Object.keys(link)) if (link[name] === undefined) delete link[name];
  return { ...credential, link: link as LinkedFile };
}
