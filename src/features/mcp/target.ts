import type { LoginkitContext } from '../../context.js';
import { ConfigError, NetworkError, sanitizeServerText } from '../../errors.js';
import { redirectTarget } from '../../net/guarded-fetch.js';
import { type FetchLike, createHttp } from '../../net/http.js';
import { isReplayable } from '../../session/authenticated-fetch.js';
import type { OAuthCredential } from '../../session/credential.js';
import type { TokenSession } from '../../session/token-session.js';
import { guardedFetchFor } from './guarded-http.js';
import { canonicalServerUrl, mcpLoginRequired } from './server-url.js';
import { mcpSession, mcpStore, storeKey } from './store.js';
import type { McpLoginOptions } from './types.js';

/** One MCP server as the modules of this folder see it: its URL, the context and options, and shared state. */
export interface McpTarget {
  /** The MCP server URL (canonical form). */
  readonly url: URL;
  readonly ctx: LoginkitContext;
  readonly options: McpLoginOptions;
  readonly session: TokenSession;
  /** DPoP nonces the servers handed out, by origin (RFC 9449 §8). */
  readonly dpopNonces: Map<string, string>;
  /** Fetch for URLs the servers hand out: SSRF-checked, size- and time-bounded. */
  guarded(): Promise<FetchLike>;
}

/** The target for `url`. */
export function createTarget(ctx: LoginkitContext, url: string | URL, options: McpLoginOptions): McpTarget {
  const canonical = canonicalServerUrl(url);
  const guarded = guardedFetchFor(ctx, canonical);
  return {
    url: canonical,
    ctx,
    options,
    session: mcpSession(ctx),
    dpopNonces: new Map(),
    guarded: async () => guarded,
  };
}

/**
 * Fetch for the MCP server itself (the URL the person chose): headers bounded in time, no address policy,
 * redirects followed only within the request's origin (a redirect elsewhere is refused, so a token or a
 * DPoP proof goes nowhere the person did not name).
 */
export function resourceHttp(target: McpTarget): FetchLike {
  return withinOrigin(plainHttp(target));
}

/** Fetch for anything else an application sends through the MCP fetch: bounded in time, nothing added. */
export function plainHttp(target: McpTarget): FetchLike {
  const { ctx } = target;
  return createHttp({ fetch: ctx.baseFetch, env: ctx.env, timeoutMs: ctx.timeoutMs, bound: 'headers' });
}

const MAX_REDIRECTS = 3;

/** `http` following at most three redirects itself, each within the request's origin; one elsewhere is an error. */
function withinOrigin(http: FetchLike): FetchLike {
  return async (input, init = {}) => {
    let url = new URL(String(input));
    let request: RequestInit = init;
    for (let hop = 0; ; hop++) {
      const response = await http(url, { ...request, redirect: 'manual' });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) return response;
      const next = redirectTarget(location, url);
      if (next.origin !== url.origin) {
        await response.body?.cancel().catch(() => undefined);
        throw new ConfigError(
          `The MCP server ${url.origin} redirected to another origin (${sanitizeServerText(next.origin, 200)}); refusing to follow it, a server's token goes only to that server.`,
        );
      }
      if (init.redirect === 'manual') return response;
      const keepsBody = response.status === 307 || response.status === 308;
      if (hop >= MAX_REDIRECTS || init.redirect === 'error' || (keepsBody && !isReplayable(request.body))) {
        await response.body?.cancel().catch(() => undefined);
        throw new NetworkError(
          'network',
          url.host,
          `${url.host} redirected ${url.pathname} too often or in a way loginkit cannot follow.`,
          {
            transient: false,
          },
        );
      }
      await response.body?.cancel().catch(() => undefined);
      if (!keepsBody && request.body !== undefined && request.body !== null) {
        const { body: _body, ...rest } = request;
        request = { ...rest, method: 'GET' };
      }
      url = next;
    }
  };
}

/** The stored credential for this server, if any (not refreshed). */
export async function storedCredential(target: McpTarget): Promise<OAuthCredential | undefined> {
  const entries = await mcpStore(target.ctx).read();
  const id = entries[storeKey('server', target.url.href)];
  if (typeof id !== 'string') return undefined;
  const credential = await target.session.credential(id);
  return credential?.kind === 'oauth' ? credential : undefined;
}

/** A valid credential: refreshed first when due; undefined when there is none. */
export async function freshCredential(target: McpTarget): Promise<OAuthCredential | undefined> {
  const current = await storedCredential(target);
  if (!current) return undefined;
  const fresh = await target.session.freshCredential(current.provider, current.profile);
  return fresh.kind === 'oauth' ? fresh : undefined;
}

/** The access token for this server, refreshed first when due; undefined before any sign-in. */
export async function currentAccessToken(target: McpTarget): Promise<string | undefined> {
  if (!(await storedCredential(target))) return undefined;
  const credential = await freshCredential(target);
  if (!credential) throw mcpLoginRequired(target.url, `Not signed in to the MCP server ${target.url.href}.`);
  return credential.accessToken;
}
