/** One challenge of a `WWW-Authenticate` header: its scheme and auth-params (names lower-cased). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** What an MCP client needs from a resource server's challenges (RFC 6750 §3, RFC 9728 §5.1). */
export interface BearerChallenge {
  /** `resource_metadata`: where the protected resource metadata is. */
  readonly resourceMetadata: string | undefined;
  /** `scope`, split on spaces. */
  readonly scopes: readonly string[];
  /** `error`: `invalid_token`, `insufficient_scope`, `invalid_request`, or DPoP's `use_dpop_nonce`. */
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  /** The scheme the challenge came with (`Bearer` or `DPoP`). */
  readonly scheme: string | undefined;
  /** Whether a `DPoP` challenge was among them: the server takes DPoP-bound tokens (RFC 9449 §7.1). */
  readonly dpop: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*/;

/**
 * Parses a `WWW-Authenticate` field value (RFC 9110 §11.6.1): several challenges separated by commas,
 * auth-params as token=token or token="quoted string" with backslash escapes, or a token68. Parsing stops
 * at the first thing it cannot read and keeps what came before: a malformed header never throws.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let rest = header;
  const skip = (pattern: RegExp): void => {
    rest = rest.replace(pattern, '');
  };
  while (true) {
    skip(/^[\s,]+/);
    const scheme = TOKEN.exec(rest)?.[0];
    if (!scheme) break;
    rest = rest.slice(scheme.length);
    const challenge = { scheme, params: {} as Record<string, string> };
    challenges.push(challenge);
    // A token68 (`Basic dXNlcg==`) is the whole credential of its challenge.
    const afterSpace = rest.replace(/^[ \t]+/, '');
    const token68 = TOKEN68.exec(afterSpace)?.[0];
    if (token68 && afterSpace !== rest && /^[ \t]*(,|$)/.test(afterSpace.slice(token68.length))) {
      rest = afterSpace.slice(token68.length);
      continue;
    }
    while (true) {
      const before = rest;
      skip(/^[ \t]*,?[ \t]*/);
      const name = TOKEN.exec(rest)?.[0];
      if (!name) break;
      const afterName = rest.slice(name.length).replace(/^[ \t]*/, '');
      if (!afterName.startsWith('=')) {
        // The next challenge's scheme: give it back.
        rest = before;
        break;
      }
      rest = afterName.slice(1).replace(/^[ \t]*/, '');
      let value: string | undefined;
      if (rest.startsWith('"')) {
        let out = '';
        let i = 1;
        for (; i < rest.length; i++) {
          const ch = rest[i] as string;
          if (ch === '\\' && i + 1 < rest.length) {
            out += rest[++i];
          } else if (ch === '"') {
            break;
          } else {
            out += ch;
          }
        }
        if (i >= rest.length) return challenges; // unterminated quoted string
        value = out;
        rest = rest.slice(i + 1);
      } else {
        value = TOKEN.exec(rest)?.[0];
        if (value === undefined) return challenges;
        rest = rest.slice(value.length);
      }
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
      if (!/^[ \t]*(,|$)/.test(rest)) return challenges;
    }
  }
  return challenges;
}

/**
 * The Bearer (or DPoP) challenge of a 401/403 response, or undefined when it has none. With both, the one
 * that names an error or resource metadata wins; their `resource_metadata` and `scope` are read from either.
 */
export function bearerChallenge(response: Pick<Response, 'headers'>): BearerChallenge | undefined {
  const header = response.headers.get('www-authenticate');
  if (!header) return undefined;
  const relevant = parseWwwAuthenticate(header).filter((c) => /^(bearer|dpop)$/i.test(c.scheme));
  if (relevant.length === 0) return undefined;
  const pick = (name: string): string | undefined => relevant.find((c) => c.params[name] !== undefined)?.params[name];
  const scope = pick('scope');
  return {
    resourceMetadata: pick('resource_metadata'),
    scopes: scope ? scope.split(/\s+/).filter(Boolean) : [],
    error: pick('error'),
    errorDescription: pick('error_description'),
    scheme: (relevant.find((c) => c.params.error !== undefined) ?? relevant[0])?.scheme,
    dpop: relevant.some((c) => c.scheme.toLowerCase() === 'dpop'),
  };
}
