import type { LoginkitContext } from '../context.js';
import type { ImportSource, Skipped } from '../importers/types.js';
import type { ServerMetadata } from '../oauth/server.js';
import type { OAuthProvider } from '../providers/registry.js';
import type { Credential } from '../session/credential.js';
import { credentialFromForeignTokens } from '../session/imported.js';
import { maskSecret } from '../shared/mask.js';
import { profileFor } from './profile.js';

/** What `import` did or, with `dryRun`, would do (no secrets: keys are masked). */
export interface ImportReport {
  source: ImportSource;
  file: string;
  dryRun: boolean;
  imported: Array<{ provider: string; profile: string; kind: 'api_key' | 'oauth'; detail: string; origin: string }>;
  skipped: Skipped[];
}

/** The profile that imported OAuth sign-ins (Codex's and opencode's ChatGPT tokens) go to. */
const IMPORTED_SIGN_IN_PROFILE = 'chatgpt';

/**
 * Reads another tool's credential file (read-only) and stores its API keys under the active profile (or
 * `profile`) and its OAuth sign-ins under profile `chatgpt`; never replaces a credential already there.
 */
export async function importCredentials(
  ctx: LoginkitContext,
  source: ImportSource,
  options: { dryRun?: boolean; profile?: string } = {},
): Promise<ImportReport> {
  const { readImportPlan } = await import('../importers/index.js');
  const plan = await readImportPlan(source, ctx.env);
  const report: ImportReport = { source, file: plan.file, dryRun: options.dryRun === true, imported: [], skipped: [...plan.skipped] };
  for (const candidate of plan.candidates) {
    const what = `${candidate.provider} ${candidate.kind === 'api_key' ? 'API key' : 'sign-in'} from ${candidate.origin}`;
    // A provider's API key and its sign-in from the same file would collide in one profile: the sign-in goes
    // to its own profile, named for what it is.
    const profile = candidate.kind === 'oauth' ? IMPORTED_SIGN_IN_PROFILE : await profileFor(ctx, candidate.provider, options.profile);
    if (await ctx.session.credential(candidate.provider, profile)) {
      report.skipped.push({
        what,
        reason: `"${candidate.provider}" already has a credential in profile "${profile}"; import into another one with --profile NAME`,
      });
      continue;
    }
    const where = { provider: candidate.provider, profile };
    let credential: Credential | undefined;
    if (candidate.kind === 'api_key') {
      credential = { kind: 'api_key', ...where, key: candidate.key, verified: false, obtainedAt: ctx.now(), origin: candidate.origin };
    } else {
      const oauth = (await ctx.providers.findKnown(candidate.provider))?.oauth;
      // Codex and opencode rotate refresh tokens: their sign-ins are linked, not forked (see session/linked-file.ts).
      const link = { tool: source as 'codex' | 'opencode', file: plan.file, ...(candidate.entry ? { entry: candidate.entry } : {}) };
      const server = oauth && !oauth.knownEndpoints ? await discoveredServer(ctx, oauth) : undefined;
      credential = oauth && credentialFromForeignTokens(oauth, { ...where, link }, candidate, ctx.now(), server);
      if (!credential) {
        report.skipped.push({
          what,
          reason: `loginkit cannot refresh "${candidate.provider}" tokens from another tool; sign in: loginkit login ${candidate.provider}`,
        });
        continue;
      }
    }
    if (!report.dryRun) await ctx.session.save(credential);
    report.imported.push({
      ...where,
      kind: candidate.kind,
      detail: candidate.kind === 'api_key' ? maskSecret(candidate.key) : `tokens, linked to ${plan.file}`,
      origin: candidate.origin,
    });
  }
  return report;
}

/** The server of a provider whose issuer config.json overrides (its preset's endpoints do not apply), or undefined. */
async function discoveredServer(ctx: LoginkitContext, oauth: OAuthProvider): Promise<ServerMetadata | undefined> {
  const { resolveServerMetadata } = await import('../oauth/server.js');
  try {
    return await resolveServerMetadata(oauth, ctx.http, ctx.timeoutMs);
  } catch (error) {
    ctx.warn(`Cannot reach ${oauth.issuer} to link the imported sign-in: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
