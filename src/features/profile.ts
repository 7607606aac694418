import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import { profileProblem } from '../session/credential.js';

/** The profile to use for `provider`: the one named, else `$LOGINKIT_PROFILE`, else the active one. */
export async function profileFor(ctx: LoginkitContext, provider: string, explicit: string | undefined): Promise<string> {
  const profile = explicit ?? (ctx.env.LOGINKIT_PROFILE || undefined) ?? (await ctx.session.activeProfile(provider));
  const problem = profileProblem(profile);
  if (problem) throw new ConfigError(problem);
  return profile;
}
