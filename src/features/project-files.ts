// A project's `.loginkit.json` chooses the profile for its folder, but a cloned repository is attacker input
// (Claude Code runs `loginkit token` inside whatever repository is open): a project file takes effect only
// once the person has allowed it, by path and content hash, as direnv does with `direnv allow`. The search
// stops at the home folder and at another file system, and a file or folder that someone else could have
// written is ignored, as git's safe.directory does. Every problem is a warning, never an error that blocks.
import { type Stats, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import * as z from 'zod/mini';
import type { LoginkitContext } from '../context.js';
import { ConfigError, StorageError } from '../errors.js';
import { type ProfileRule, ProfileRuleSchema } from '../providers/config-file.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { readRegularFileSync } from '../shared/bounded-read.js';
import { describeFsError, errorCode } from '../shared/errno.js';
import { assertSafeSettingsFile, shellQuote } from '../shared/file-safety.js';
import { sanitizePath } from '../shared/printable.js';

/** The file a project may hold to choose the profile for everything below it: `{"profile": "work"}`. */
export const PROJECT_FILE = '.loginkit.json';

/** The allow list in the home folder: which project files (path and SHA-256 of their content) may be used. */
export const ALLOW_LIST_FILE = 'allowed-projects.json';

/** A rule is tens of bytes; anything near this is not a project file. */
const PROJECT_FILE_MAX_BYTES = 64 * 1024;
const ALLOW_LIST_MAX_BYTES = 1024 * 1024;

/** A `.loginkit.json` found from the working directory up, and whether loginkit uses it. */
export interface ProjectFile {
  /** The file's path. */
  file: string;
  /** The folder it covers, with everything below it. */
  directory: string;
  /**
   * `allowed`: in use; `not_allowed`: ignored until allowed (`loginkit allow`); `changed`: allowed once, but
   * its content changed since (allow it again); `unsafe`: it, or a folder on its path, belongs to another user
   * or can be changed by others; `invalid`: not a regular file, too large, unreadable, or not a valid rule.
   */
  state: 'allowed' | 'not_allowed' | 'changed' | 'unsafe' | 'invalid';
  /** The profile it names, when it could be read; else null. */
  profile: string | null;
  /** The providers it is limited to; null for every provider (or when it could not be read). */
  providers: string[] | null;
  /** For a file that is ignored: why, as one line fit for a terminal (paths stripped of control characters); else null. */
  problem: string | null;
  /** For `not_allowed` and `changed`: the command that allows it, run in the working directory; else null. */
  allowCommand: string | null;
}

/** A project file as read, with what the allow list is checked against. */
interface ReadProjectFile {
  file: string;
  directory: string;
  rule?: ProfileRule;
  /** The bytes the rule was parsed from: what the allow list's hash is of. */
  bytes?: Buffer;
  /** Set when the file is ignored whatever the allow list says. */
  refused?: { state: 'unsafe' | 'invalid'; problem: string };
}

/** A project file found for a client: what {@link ProjectFile} shows, with the rule for an allowed one. */
export interface FoundProjectFile extends ProjectFile {
  rule?: ProfileRule;
}

/**
 * How long the project files found for a client are used before the folders are searched again:
 * `getToken()` in a loop must not read a file per directory level per call. Real time, not the client's
 * clock: it bounds file reads, not credential lifetimes.
 */
const PROJECT_FILES_REVALIDATE_MS = 1_000;
const searches = new WeakMap<LoginkitContext, { cwd: string; at: number; found: Promise<FoundProjectFile[]> }>();
const warned = new WeakMap<LoginkitContext, Set<string>>();

/**
 * Every `.loginkit.json` from the working directory up (nearest first), each with its state; searched again
 * at most every {@link PROJECT_FILES_REVALIDATE_MS} per client. A file that is ignored is told through
 * `ctx.warn` once per client.
 */
export function projectFiles(ctx: LoginkitContext): Promise<FoundProjectFile[]> {
  const cwd = resolve(ctx.cwd);
  const seen = searches.get(ctx);
  const now = performance.now();
  if (seen && seen.cwd === cwd && now - seen.at < PROJECT_FILES_REVALIDATE_MS) return seen.found;
  const found = searchProjectFiles(ctx, cwd);
  searches.set(ctx, { cwd, at: now, found });
  return found;
}

async function searchProjectFiles(ctx: LoginkitContext, cwd: string): Promise<FoundProjectFile[]> {
  const read = searchedFolders(cwd, homeOf(ctx)).flatMap((folder) => readProjectFile(folder) ?? []);
  if (read.length === 0) return [];
  const allowList = await allowListForSearch(ctx);
  const found = await Promise.all(read.map((entry, index) => withState(cwd, entry, allowList, index === 0)));
  for (const entry of found) if (entry.problem) warnOnce(ctx, `${entry.state}\0${entry.file}`, entry.problem);
  return found;
}

/**
 * The folders searched, nearest first: the working directory and its parents, up to the home folder
 * (included) and never onto another file system (a mount point's parent is outside the tree, as git's
 * discovery stops there).
 */
function searchedFolders(cwd: string, home: string): string[] {
  const homeStats = statOrUndefined(home);
  const folders: string[] = [];
  let device: number | undefined;
  for (let folder = cwd; ; folder = dirname(folder)) {
    const stats = statOrUndefined(folder);
    if (!stats?.isDirectory()) break;
    device ??= stats.dev;
    if (stats.dev !== device) break;
    folders.push(folder);
    if (homeStats && stats.dev === homeStats.dev && stats.ino === homeStats.ino) break;
    if (dirname(folder) === folder) break;
  }
  return folders;
}

function homeOf(ctx: LoginkitContext): string {
  return resolve(ctx.env.HOME || ctx.env.USERPROFILE || homedir());
}

/** The project file in `directory` through the bounded regular-file reader; undefined when there is none. */
function readProjectFile(directory: string): ReadProjectFile | undefined {
  const file = join(directory, PROJECT_FILE);
  const shown = sanitizePath(file);
  let bytes: Buffer;
  let stats: Stats;
  try {
    ({ bytes, stats } = readRegularFileSync(file, PROJECT_FILE_MAX_BYTES));
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
    const problem =
      error instanceof StorageError ? error.message : `${shown} cannot be read (${describeFsError(error)}), so loginkit ignores it.`;
    return { file, directory, refused: { state: 'invalid', problem } };
  }
  const unsafe = unsafeReason(file, stats, directory);
  if (unsafe) return { file, directory, refused: { state: 'unsafe', problem: unsafe } };
  const rule = parseProjectFile(bytes);
  if (!rule) {
    const problem = `${shown} is not a valid project file, so loginkit ignores it: expected {"profile": "<name>"} (optionally "providers": [ids]), and no "directory" (the file's folder is the directory).`;
    return { file, directory, refused: { state: 'invalid', problem } };
  }
  return { file, directory, rule, bytes };
}

function parseProjectFile(bytes: Buffer): ProfileRule | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
  const parsed = ProfileRuleSchema.safeParse(json);
  return parsed.success && parsed.data.directory === undefined ? parsed.data : undefined;
}

/**
 * Why a project file must not be trusted, as git's safe.directory judges a repository: the file, its folder
 * or a folder above it belongs to another user (root's folders are fine), or can be changed by others (a
 * sticky folder such as /tmp only lets others change their own entries, so it is fine too).
 */
function unsafeReason(file: string, stats: Stats, directory: string): string | undefined {
  const uid = process.platform === 'win32' ? undefined : process.getuid?.();
  if (uid === undefined) return undefined;
  const shown = sanitizePath(file);
  if (stats.uid !== uid)
    return `${shown} belongs to another user (uid ${stats.uid}), so loginkit ignores it, as git ignores a repository that is not yours.`;
  if ((stats.mode & 0o022) !== 0)
    return `${shown} can be changed by other users (mode ${modeText(stats)}), so loginkit ignores it.\nFix: chmod go-w ${shellQuote(shown)}`;
  for (let folder = directory; ; folder = dirname(folder)) {
    const folderStats = statOrUndefined(folder);
    const where = `the folder ${sanitizePath(folder)}`;
    if (!folderStats) return `${where} cannot be checked, so loginkit ignores ${shown}.`;
    if (folderStats.uid !== uid && folderStats.uid !== 0)
      return `${shown} is in ${where}, which belongs to another user (uid ${folderStats.uid}), so loginkit ignores it.`;
    if ((folderStats.mode & 0o022) !== 0 && (folderStats.mode & 0o1000) === 0)
      return `${shown} is in ${where}, which other users can change (mode ${modeText(folderStats)}), so loginkit ignores it.\nFix: chmod go-w ${shellQuote(sanitizePath(folder))}`;
    if (dirname(folder) === folder) return undefined;
  }
}

function modeText(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8);
}

async function withState(cwd: string, entry: ReadProjectFile, allowList: AllowList, nearest: boolean): Promise<FoundProjectFile> {
  const base = {
    file: entry.file,
    directory: entry.directory,
    profile: entry.rule?.profile ?? null,
    providers: entry.rule?.providers ?? null,
  };
  if (entry.refused) return { ...base, state: entry.refused.state, problem: entry.refused.problem, allowCommand: null };
  const rule = entry.rule as ProfileRule;
  const sha256 = await contentHash(entry.bytes as Buffer);
  const allowed = allowList[entry.file];
  if (allowed?.sha256 === sha256) return { ...base, state: 'allowed', problem: null, allowCommand: null, rule };
  const allowCommand = nearest ? 'loginkit allow' : `loginkit allow ${relative(cwd, entry.directory)}`;
  const shown = sanitizePath(entry.file);
  const problem = allowed
    ? `${shown} changed since you allowed it, so loginkit ignores it; to use it as it is now: ${allowCommand}`
    : `${shown} would choose profile "${rule.profile}" here, but it is not allowed yet, so loginkit ignores it; to use it: ${allowCommand}`;
  return { ...base, state: allowed ? 'changed' : 'not_allowed', problem, allowCommand };
}

/** SHA-256 of the bytes read, hex; node:crypto loads only where a project file exists (not on every `token`). */
async function contentHash(bytes: Buffer): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(bytes).digest('hex');
}

function warnOnce(ctx: LoginkitContext, key: string, message: string): void {
  let told = warned.get(ctx);
  if (!told) warned.set(ctx, (told = new Set()));
  if (told.has(key)) return;
  told.add(key);
  ctx.warn(message);
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

// The allow list.

type AllowList = Record<string, { sha256: string; allowedAt?: string | undefined }>;

function buildAllowListSchema() {
  return z.object({
    version: z.literal(1),
    allowed: z.record(z.string(), z.object({ sha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)), allowedAt: z.optional(z.string()) })),
  });
}
let allowListSchema: ReturnType<typeof buildAllowListSchema> | undefined;

/** The allow list, read through the same checks as config.json (it decides what a repository may choose). */
function readAllowList(home: string): AllowList {
  const path = join(home, ALLOW_LIST_FILE);
  let bytes: Buffer;
  try {
    const read = readRegularFileSync(path, ALLOW_LIST_MAX_BYTES);
    assertSafeSettingsFile(path, read.stats);
    bytes = read.bytes;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return {};
    if (error instanceof StorageError) throw error;
    throw new ConfigError(`${path}: cannot read: ${describeFsError(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  allowListSchema ??= buildAllowListSchema();
  const parsed = allowListSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `${path} is not loginkit's allow list of project files.\nFix: remove it and allow your project files again (loginkit allow)`,
    );
  }
  return parsed.data.allowed;
}

/** The allow list for a search: one that cannot be used allows nothing, with a warning, and blocks nothing. */
async function allowListForSearch(ctx: LoginkitContext): Promise<AllowList> {
  try {
    return readAllowList(ctx.home);
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof StorageError)) throw error;
    warnOnce(ctx, `allow-list\0${error.message}`, `${error.message.split('\n')[0]} No project file is used until it is fixed.`);
    return {};
  }
}

async function writeAllowList(home: string, allowed: AllowList): Promise<void> {
  await writeFileAtomic(join(home, ALLOW_LIST_FILE), `${JSON.stringify({ version: 1, allowed }, null, 2)}\n`);
}

/**
 * The project file `path` names: a `.loginkit.json`, or the nearest one at or above a folder (default: the
 * working directory), searched as `token` searches. Undefined when there is none.
 */
function locate(ctx: LoginkitContext, path: string | undefined): { file: string; entry: ReadProjectFile | undefined } {
  const target = resolve(ctx.cwd, path ?? '.');
  const stats = statOrUndefined(target);
  if (stats?.isDirectory()) {
    for (const folder of searchedFolders(target, homeOf(ctx))) {
      const entry = readProjectFile(folder);
      if (entry) return { file: entry.file, entry };
    }
    return { file: join(target, PROJECT_FILE), entry: undefined };
  }
  if (basename(target) !== PROJECT_FILE) {
    throw new ConfigError(`${sanitizePath(target)} is not a ${PROJECT_FILE} file; name the file or its folder: loginkit allow <folder>`);
  }
  return { file: target, entry: readProjectFile(dirname(target)) };
}

/**
 * Allows the project file `path` names (see {@link locate}) as it is now: it takes effect until its content
 * changes. A file that is unsafe or not a valid rule is refused.
 */
export async function allowProjectFile(ctx: LoginkitContext, path?: string): Promise<ProjectFile> {
  const { file, entry } = locate(ctx, path);
  if (!entry) {
    throw new ConfigError(
      `No ${PROJECT_FILE} at ${sanitizePath(path === undefined ? resolve(ctx.cwd) : file)} or in the folders above it (the search stops at your home folder and at another file system).`,
    );
  }
  if (entry.refused) throw new ConfigError(entry.refused.problem);
  const allowed = {
    ...readAllowList(ctx.home),
    [entry.file]: { sha256: await contentHash(entry.bytes as Buffer), allowedAt: new Date(ctx.now()).toISOString() },
  };
  await writeAllowList(ctx.home, allowed);
  searches.delete(ctx);
  const rule = entry.rule as ProfileRule;
  return {
    file,
    directory: entry.directory,
    state: 'allowed',
    profile: rule.profile,
    providers: rule.providers ?? null,
    problem: null,
    allowCommand: null,
  };
}

/** Takes the project file `path` names off the allow list; `removed` is false when it was not on it. */
export async function denyProjectFile(ctx: LoginkitContext, path?: string): Promise<{ file: string; removed: boolean }> {
  const { file } = locate(ctx, path);
  const allowList = readAllowList(ctx.home);
  if (!(file in allowList)) return { file, removed: false };
  const { [file]: _removed, ...rest } = allowList;
  await writeAllowList(ctx.home, rest);
  searches.delete(ctx);
  return { file, removed: true };
}
