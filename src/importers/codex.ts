// OpenAI's Codex CLI: `$CODEX_HOME/auth.json` (default `~/.codex/auth.json`), as written by
// codex-rs/login (`AuthDotJson` in src/auth/storage.rs, `TokenData` in src/token_data.rs):
//   { "auth_mode"?, "OPENAI_API_KEY": string | null, "tokens"?: { "id_token", "access_token",
//     "refresh_token", "account_id"? } | null, "last_refresh"?, … }
// Its ChatGPT tokens come from the same public client as loginkit's OpenAI preset, so they refresh here.
import { decodeJwt } from 'jose/jwt/decode';
import * as z from 'zod/mini';

import { lookupProvider, offerApiKey, offerOAuth, skip, type Finding } from './findings.js';
import { formatError, pathFor, type SourceSpec } from './source.js';

const TokensSchema = z.object({
  id_token: z.optional(z.string()),
  access_token: z.string(),
  refresh_token: z.optional(z.string()),
  account_id: z.nullish(z.string()),
});

const AuthFileSchema = z.object({
  OPENAI_API_KEY: z.nullish(z.string()),
  tokens: z.nullish(TokensSchema),
  last_refresh: z.nullish(z.string()),
  // Codex-only ways to sign in that loginkit cannot use; named so the report can say so.
  agent_identity: z.nullish(z.unknown()),
  personal_access_token: z.nullish(z.unknown()),
});

/** The ChatGPT claims Codex reads from the ID token. */
const IdTokenClaimsSchema = z.object({
  'https://api.openai.com/auth': z.optional(z.object({ chatgpt_account_id: z.optional(z.string()) })),
});

export const codexSource: SourceSpec = {
  tool: 'Codex',
  // Codex reads CODEX_HOME when it is set and not empty, else ~/.codex.
  locate: (env, platform, home) => {
    const { join } = pathFor(platform);
    return join(env.CODEX_HOME || join(home, '.codex'), 'auth.json');
  },
  missingHint:
    'Sign in with `codex login` first, or set CODEX_HOME. ' + 'Codex keeps no file when cli_auth_credentials_store is "keyring".',
  plan: planCodex,
};

function planCodex(json: unknown, file: string): Finding[] {
  const parsed = AuthFileSchema.safeParse(json);
  if (!parsed.success) throw formatError(codexSource, file, 'auth.json', parsed.error.issues[0]);
  const auth = parsed.data;
  const openai = lookupProvider('openai', {});
  if (!openai) throw new Error('the built-in provider catalog has no "openai"');
  const findings: Finding[] = [];

  const keyWhat = 'codex OPENAI_API_KEY';
  if (auth.OPENAI_API_KEY == null) findings.push(skip(keyWhat, 'no API key stored (OPENAI_API_KEY is not set)'));
  else findings.push(offerApiKey(openai, 'openai', keyWhat, auth.OPENAI_API_KEY, 'codex auth.json OPENAI_API_KEY'));

  const tokensWhat = 'codex tokens (ChatGPT sign-in)';
  if (auth.tokens == null) {
    findings.push(skip(tokensWhat, 'not signed in with ChatGPT (no tokens)'));
  } else {
    const { access_token, refresh_token, id_token, account_id } = auth.tokens;
    const accountId = account_id || chatgptAccountId(id_token);
    findings.push(
      offerOAuth(openai, 'openai', tokensWhat, {
        accessToken: access_token,
        ...(refresh_token ? { refreshToken: refresh_token } : {}),
        ...(id_token ? { idToken: id_token } : {}),
        expiresAt: jwtExpiry(access_token) ?? scheduledRefresh(auth.last_refresh),
        ...(accountId ? { accountId } : {}),
        origin: 'codex auth.json tokens',
      }),
    );
  }

  const codexOnly = 'a Codex-only credential that loginkit cannot use';
  if (auth.agent_identity != null) findings.push(skip('codex agent_identity', codexOnly));
  if (auth.personal_access_token != null) findings.push(skip('codex personal_access_token', codexOnly));
  return findings;
}

/** The `exp` of a JWT in ms, read without verifying (the token is only being carried over); null if not a JWT. */
function jwtExpiry(token: string): number | null {
  const exp = decodeClaims(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
}

/** Codex refreshes a token whose expiry it cannot read 8 days after `last_refresh` (TOKEN_REFRESH_INTERVAL in codex-rs/login). */
const CODEX_REFRESH_INTERVAL_MS = 8 * 24 * 60 * 60 * 1000;

/** When Codex would refresh an access token that is no JWT, in ms; null without a `last_refresh`. */
function scheduledRefresh(lastRefresh: string | null | undefined): number | null {
  const at = lastRefresh ? Date.parse(lastRefresh) : Number.NaN;
  return Number.isFinite(at) ? at + CODEX_REFRESH_INTERVAL_MS : null;
}

/** The ChatGPT account (workspace) id from the ID token, as Codex reads it. */
function chatgptAccountId(idToken: string | undefined): string | undefined {
  const claims = IdTokenClaimsSchema.safeParse(idToken ? decodeClaims(idToken) : undefined);
  return claims.success ? claims.data['https://api.openai.com/auth']?.chatgpt_account_id || undefined : undefined;
}

function decodeClaims(token: string): Record<string, unknown> | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}
