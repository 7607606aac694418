import { join, resolve, sep } from 'node:path';
import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import type { ProfileRule } from '../providers/config-file.js';
import { profileProblem } from '../session/credential.js';
import { sanitizePath } from '../shared/printable.js';
import { projectFiles } from './project-files.js';

/** The profile in use for a provider and what chose it, as `status` explains it. */
export interface ProfileChoice {
  profile: string;
  /**
   * What chose it: `--profile` (or the `profile` option), `LOGINKIT_PROFILE`, a project rule (`rule`:
   * config.json's `profileRules`, or a `.loginkit.json`), `switch`, or `default`.
   */
  chosenBy: 'option' | 'env' | 'rule' | 'switch' | 'default';
  /**
   * For a rule: where it is and the directory it covers, e.g. `/home/me/.config/loginkit/config.json: directory
   * /home/me/work`, with the paths stripped of control characters (a folder name is attacker input).
   */
  rule?: string;
}

/** The profile to use for `provider`: the one named, else `$LOGINKIT_PROFILE`, else a project rule, else the active one. */
export async function profileFor(ctx: LoginkitContext, provider: string, explicit: string | undefined): Promise<string> {
  return (await chooseProfile(ctx, provider, explicit)).profile;
}

/** {@link profileFor} with what chose the profile. */
export async function chooseProfile(ctx: LoginkitContext, provider: string, explicit: string | undefined): Promise<ProfileChoice> {
  const choice = await choose(ctx, provider, explicit);
  const problem = profileProblem(choice.profile);
  if (problem) throw new ConfigError(choice.rule ? `${choice.rule}: ${problem}` : problem);
  return choice;
}

async function choose(ctx: LoginkitContext, provider: string, explicit: string | undefined): Promise<ProfileChoice> {
  if (explicit) return { profile: explicit, chosenBy: 'option' };
  if (ctx.env.LOGINKIT_PROFILE) return { profile: ctx.env.LOGINKIT_PROFILE, chosenBy: 'env' };
  const rule = await projectRule(ctx, provider);
  if (rule)
    return { profile: rule.profile, chosenBy: 'rule', rule: `${sanitizePath(rule.file)}: directory ${sanitizePath(rule.directory)}` };
  const active = await ctx.session.activeProfile(provider);
  return { profile: active, chosenBy: active === 'default' ? 'default' : 'switch' };
}

interface PlacedRule {
  profile: string;
  directory: string;
  file: string;
  /** config.json rules win a tie with a project's file: the person's own settings over a repository's. */
  fromConfig: boolean;
}

/**
 * The most specific rule that covers the working directory: the one with the deepest directory, from
 * config.json's `profileRules` and every allowed `.loginkit.json` from the working directory up (see project-files.ts).
 */
async function projectRule(ctx: LoginkitContext, provider: string): Promise<PlacedRule | undefined> {
  const cwd = resolve(ctx.cwd);
  const config = await ctx.providers.config();
  const candidates: PlacedRule[] = [];
  for (const rule of config.profileRules ?? []) {
    if (!rule.directory) throw new ConfigError(`${config.path}: every entry of profileRules needs a "directory"`);
    const directory = expandHome(rule.directory, ctx.env.HOME);
    if (covers(directory, cwd) && appliesTo(rule, provider))
      candidates.push({ profile: rule.profile, directory, file: config.path, fromConfig: true });
  }
  for (const found of await projectFiles(ctx)) {
    if (found.rule && appliesTo(found.rule, provider))
      candidates.push({ profile: found.rule.profile, directory: found.directory, file: found.file, fromConfig: false });
  }
  candidates.sort((a, b) => b.directory.length - a.directory.length || Number(b.fromConfig) - Number(a.fromConfig));
  return candidates[0];
}

function appliesTo(rule: ProfileRule, provider: string): boolean {
  return rule.providers === undefined || rule.providers.includes(provider);
}

/** True when `cwd` is `directory` or inside it (whole path segments: /work does not cover /workshop). */
function covers(directory: string, cwd: string): boolean {
  const base = directory.endsWith(sep) ? directory.slice(0, -1) : directory;
  return cwd === base || cwd.startsWith(`${base}${sep}`) || base === '';
}

function expandHome(directory: string, home: string | undefined): string {
  if (!directory.startsWith('~/')) return resolve(directory);
  if (!home) throw new ConfigError(`profileRules: "${directory}" starts with ~ but HOME is not set; write the directory in full.`);
  return resolve(join(home, directory.slice(2)));
}
