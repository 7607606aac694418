// Reading another tool's credentials file: where it is, and its bytes as JSON. Read-only, and no
// message ever quotes the file's contents, since they are secrets.
import { homedir as osHomedir } from 'node:os';
import { posix, win32, type PlatformPath } from 'node:path';

import { StorageError } from '../errors.js';
import type { EnvVars } from '../shared/home.js';
import type { Finding } from './findings.js';
import { readRegularFileSync } from '../shared/bounded-read.js';
import { describeFsError, errorCode } from '../shared/errno.js';

/** Everything loginkit knows about one tool's credentials file. */
export interface SourceSpec {
  /** The tool's name as people write it, e.g. `Codex`. */
  tool: string;
  /** Where the tool keeps the file. */
  locate(env: EnvVars, platform: NodeJS.Platform, home: string): string;
  /** What to do when the file is not there, e.g. the tool's login command. */
  missingHint: string;
  /** Turns the parsed JSON into findings; throws a StorageError naming the file when the shape is wrong. */
  plan(json: unknown, file: string): Finding[];
}

/** Large enough for any credentials file; anything bigger is not one. */
const MAX_SOURCE_BYTES = 1024 * 1024;

/** Path functions of the platform the file belongs to, so Windows paths can be computed anywhere. */
export function pathFor(platform: NodeJS.Platform): PlatformPath {
  return platform === 'win32' ? win32 : posix;
}

/** The home folder as the tools see it: `%USERPROFILE%` on Windows, `$HOME` elsewhere. */
export function homeFolder(env: EnvVars, platform: NodeJS.Platform, homedir: string | undefined): string {
  return homedir ?? ((platform === 'win32' ? env.USERPROFILE : env.HOME) || osHomedir());
}

/** Reads and parses the file without changing it (a plain read-only open). */
export async function readSourceJson(spec: SourceSpec, file: string): Promise<unknown> {
  const text = await readSourceText(spec, file);
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    // The parser's message quotes the text around the error, which is a secret here: keep only where.
    const where = /line \d+ column \d+|position \d+/.exec((error as Error).message)?.[0];
    const at = where ? ` (at ${where})` : '';
    throw new StorageError(file, `${file} is not valid JSON${at}; expected ${spec.tool}'s credentials file.`);
  }
}

async function readSourceText(spec: SourceSpec, file: string): Promise<string> {
  try {
    // Regular files only, at most the cap: a FIFO or a device in the tool's place is refused before a byte is read.
    return readRegularFileSync(file, MAX_SOURCE_BYTES).bytes.toString('utf8');
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (errorCode(error) === 'ENOENT') {
      const message = `No ${spec.tool} credentials file at ${file}. ${spec.missingHint}`;
      throw new StorageError(file, message, { cause: error });
    }
    throw new StorageError(file, `Cannot read ${file}: ${describeFsError(error)}`, { cause: error });
  }
}

interface IssueLike {
  code?: string;
  expected?: string;
  path?: readonly PropertyKey[];
}

/** A schema failure as "<file> is not <tool>'s <what>: field tokens.access_token must be a string." */
export function formatError(spec: SourceSpec, file: string, what: string, issue: IssueLike | undefined): StorageError {
  const field = issue?.path?.map(String).join('.');
  const where = field ? `field ${field}` : 'the top level';
  const problem = issue?.code === 'invalid_type' && issue.expected ? `must be ${article(issue.expected)}` : 'is invalid';
  return new StorageError(file, `${file} is not ${spec.tool}'s ${what}: ${where} ${problem}.`);
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
