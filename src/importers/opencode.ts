// opencode: `auth.json` in its data folder, `$XDG_DATA_HOME/opencode` else `~/.local/share/opencode` on
// every platform (it uses the xdg-basedir package, which has no macOS or Windows branch). Keyed by
// opencode (models.dev) provider id, each entry one of (packages/opencode/src/auth/index.ts):
//   { "type": "api", "key", "metadata"? } | { "type": "oauth", "refresh", "access", "expires" (ms),
//   "accountId"?, "enterpriseUrl"? } | { "type": "wellknown", "key" (an env var name), "token" }
// (wellknown entries are keyed by the URL of an organisation's server, from `opencode auth login <url>`).
// opencode itself ignores entries it cannot decode; so does this reader, reporting them as skipped.
import * as z from 'zod/mini';

import { lookupProvider, offerApiKey, offerOAuth, quoted, skip, type Finding } from './findings.js';
import { formatError, pathFor, type SourceSpec } from './source.js';

/** opencode (models.dev) provider ids that differ from loginkit's; the others are the same. */
const RENAMES: Readonly<Record<string, string>> = {
  google: 'gemini',
  togetherai: 'together',
  'fireworks-ai': 'fireworks',
  azure: 'azure-openai',
};

const EntrySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('api'), key: z.string() }),
  z.object({
    type: z.literal('oauth'),
    refresh: z.string(),
    access: z.string(),
    expires: z.number().check(z.nonnegative()),
    accountId: z.optional(z.string()),
  }),
  z.object({ type: z.literal('wellknown') }),
]);

const FileSchema = z.record(z.string(), z.unknown());

export const opencodeSource: SourceSpec = {
  tool: 'opencode',
  locate: (env, platform, home) => {
    const { join } = pathFor(platform);
    return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'opencode', 'auth.json');
  },
  missingHint: 'Sign in with `opencode auth login` first, or set XDG_DATA_HOME to where opencode keeps its data.',
  plan: planOpencode,
};

function planOpencode(json: unknown, file: string): Finding[] {
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) throw formatError(opencodeSource, file, 'auth.json', parsed.error.issues[0]);
  // Entries are read from the parsed JSON itself, not from a copy a schema built from its keys.
  return Object.entries(json as Record<string, unknown>).map(([name, value]) => planEntry(name, value));
}

function planEntry(name: string, value: unknown): Finding {
  const entry = EntrySchema.safeParse(value);
  if (!entry.success) return skip(`opencode ${quoted(name)}`, 'not a credential entry opencode writes');
  const what = `opencode ${quoted(name)} (${entry.data.type === 'api' ? 'api key' : entry.data.type})`;
  if (entry.data.type === 'wellknown') {
    return skip(what, "a token for an organisation's opencode server, not an AI provider credential");
  }
  const provider = lookupProvider(name, RENAMES);
  if (!provider) return skip(what, 'no matching loginkit provider');
  const origin = `opencode auth.json ${quoted(name)}`;
  if (entry.data.type === 'api') return offerApiKey(provider, name, what, entry.data.key, origin);
  const { access, refresh, expires, accountId } = entry.data;
  return offerOAuth(provider, name, what, {
    accessToken: access,
    ...(refresh ? { refreshToken: refresh } : {}),
    expiresAt: expires,
    ...(accountId ? { accountId } : {}),
    entry: name,
    origin,
  });
}
