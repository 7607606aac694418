import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { LoginkitContext } from '../context.js';
import { ConfigError } from '../errors.js';
import { type ProfileRule, ProfileRuleSchema } from '../providers/config-file.js';
import { profileProblem } from '../session/credential.js';

/** The profile in use for a provider and what chose it, as `status` explains it. */
export interface ProfileChoice {
  profile: string;
  /**
   * What chose it: `--profile` (or the `profile` option), `LOGINKIT_PROFILE`, a project rule (`rule`:
   * config.json's `profileRules`, or a `.loginkit.json`), `switch`, or `default`.
   */
  chosenBy: 'option' | 'env' | 'rule' | 'switch' | 'default';
  /** For a rule: where it is and the directory it covers, e.g. `/home/me/.config/loginkit/config.json: directory /home/me/work`. */
  rule?: string;
}

/** The file a project may hold to choose the profile for everything below it: `{"profile": "work"}`. */
export const PROJECT_FILE = '.loginkit.json';

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
  if (rule) return { profile: rule.profile, chosenBy: 'rule', rule: `${rule.file}: directory ${rule.directory}` };
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
 * config.json's `profileRules` and every `.loginkit.json` from the working directory up to the root.
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
  for (const found of cachedProjectFiles(ctx, cwd)) {
    if (appliesTo(found.rule, provider))
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

/**
 * How long the `.loginkit.json` files found for a client are used before the folders are searched again:
 * `getToken()` in a loop must not read a file per directory level per call. Real time, not the client's
 * clock: it bounds file reads, not credential lifetimes.
 */
const PROJECT_FILES_REVALIDATE_MS = 1_000;
const projectFilesSeen = new WeakMap<LoginkitContext, { cwd: string; at: number; found: ReturnType<typeof projectFiles> }>();

/** {@link projectFiles}, searched again at most every {@link PROJECT_FILES_REVALIDATE_MS} per client. */
function cachedProjectFiles(ctx: LoginkitContext, cwd: string): ReturnType<typeof projectFiles> {
  const seen = projectFilesSeen.get(ctx);
  const now = performance.now();
  if (seen && seen.cwd === cwd && now - seen.at < PROJECT_FILES_REVALIDATE_MS) return seen.found;
  const found = projectFiles(cwd);
  projectFilesSeen.set(ctx, { cwd, at: now, found });
  return found;
}

/** Every `.loginkit.json` from `cwd` up to the root, nearest first, validated. */
function projectFiles(cwd: string): Array<{ rule: ProfileRule; directory: string; file: string }> {
  const found: Array<{ rule: ProfileRule; directory: string; file: string }> = [];
  for (let directory = cwd; ; directory = dirname(directory)) {
    const file = join(directory, PROJECT_FILE);
    const text = readIfPresent(file);
    if (text !== undefined) found.push({ rule: parseProjectFile(file, text), directory, file });
    if (dirname(directory) === directory || !isAbsolute(directory)) break;
  }
  return found;
}

function readIfPresent(file: string): string | undefined {
  try {
    // Synchronous on purpose: a few stat-sized reads on the `loginkit token` path, like config.json.
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseProjectFile(file: string, text: string): ProfileRule {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file}: not valid JSON; expected {"profile": "<name>"}.`);
  }
  const parsed = ProfileRuleSchema.safeParse(json);
  if (!parsed.success || parsed.data.directory !== undefined) {
    throw new ConfigError(
      `${file}: expected {"profile": "<name>"} (optionally "providers": [ids]), and no "directory" (the file's folder is the directory).`,
    );
  }
  return parsed.data;
}
