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

/** The profile that imported OAuth sign-ins (Codex's and opencode's ChatGPT tokens) go to unless one is named. */
const IMPORTED_SIGN_IN_PROFILE = 'chatgpt';

/**
 * Reads another tool's credential file and stores its API keys under the active profile and its OAuth
 * sign-ins under profile `chatgpt` (both under `profile` when given); never replaces a credential already
 * there. Sign-ins are linked to the file, which loginkit then writes back to when it refreshes them.
 */
export async function importCredentials(
  ctx: LoginkitContext,
  source: ImportSource,
  options: { dryRun?: boolean; profile?: string } = {},
): Promise<ImportReport> {
  const { readImportPlan } = await import('../importers/index.js');
  const plan = await readImportPlan(source, ctx.env);
  const report: ImportReport = { source, file: plan.file, dryRun: options.dryRun === true, imported: [], skipped: [...plan.skipped] };
  // With a profile named, a sign-in and an API key for the same provider meet there: the sign-in, which the
  // person asked to place, goes first and the key is reported as skipped.
  const candidates = options.profile
    ? [...plan.candidates].sort((a, b) => Number(a.kind !== 'oauth') - Number(b.kind !== 'oauth'))
    : plan.candidates;
  for (const candidate of candidates) {
    const what = `${candidate.provider} ${candidate.kind === 'api_key' ? 'API key' : 'sign-in'} from ${candidate.origin}`;
    // A provider's API key and its sign-in from the same file would collide in one profile: the sign-in goes
    // to its own profile, named for what it is.
    const profile =
      candidate.kind === 'oauth'
        ? (options.profile ?? IMPORTED_SIGN_IN_PROFILE)
        : await profileFor(ctx, candidate.provider, options.profile);
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
      const linked = await import('../session/linked-file.js');
      const problem = await linked.linkProblem(plan.file);
      if (problem) {
        report.skipped.push({
          what,
          reason: `loginkit links only files it would keep its own credentials in: ${problem.replace(/\n/g, ' ')}`,
        });
        continue;
      }
      const link = {
        tool: source as 'codex' | 'opencode',
        file: plan.file,
        ...(candidate.entry ? { entry: candidate.entry } : {}),
        seen: linked.tokenFingerprint(candidate.refreshToken),
      };
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
