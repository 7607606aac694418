import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { SignInResult } from './browser.js';
import { nodeProgram } from './node-program.js';
import type { Person } from './person.js';

/** Options for {@link makeBrowserCommand}. */
export interface BrowserCommandOptions {
  /** Folder to write the script into. */
  dir: string;
  /** Name typed into the dev login form. Default 'alice'. */
  login?: string;
  /** Where to write the SignInResult as JSON (or `{"error": "..."}` if the sign-in failed). */
  resultFile?: string;
  /** 'fail' is a browser that cannot be opened: it exits 1 at once. Default 'sign-in'. */
  mode?: 'sign-in' | 'fail';
  /** Stop at the authorization URL's own redirect_uri, so the callback never reaches the listener. */
  stopAtCallback?: boolean;
  /** Who signs in. Default 'http'; 'chromium' where the browser is what the test is about. */
  person?: Person;
}

const BROWSER_OPEN_PROGRAM = new URL('./browser-open.ts', import.meta.url);

/** Writes an executable script for `$BROWSER` that signs in at the URL it is given; returns its path. */
export function makeBrowserCommand(opts: BrowserCommandOptions): string {
  const mode = opts.mode ?? 'sign-in';
  const path = join(opts.dir, `browser-${mode}-${randomBytes(4).toString('hex')}.sh`);
  const body = mode === 'fail' ? 'exit 1' : `exec ${browserOpenCommand(opts).map(shellQuote).join(' ')} -- "$@"`;
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function browserOpenCommand(opts: BrowserCommandOptions): string[] {
  const command = [process.execPath, ...nodeProgram(BROWSER_OPEN_PROGRAM), '--person', opts.person ?? 'http'];
  if (opts.login !== undefined) command.push('--login', opts.login);
  if (opts.resultFile !== undefined) command.push('--result-file', opts.resultFile);
  if (opts.stopAtCallback === true) command.push('--stop-at-callback');
  return command;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Reads what a `$BROWSER` command wrote to its result file; throws with its message if the sign-in failed. */
export async function readBrowserResult(resultFile: string): Promise<SignInResult> {
  const parsed: unknown = JSON.parse(await readFile(resultFile, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${resultFile} does not hold a JSON object`);
  const error: unknown = Reflect.get(parsed, 'error');
  if (typeof error === 'string') throw new Error(`the browser command failed: ${error}`);
  const finalUrl: unknown = Reflect.get(parsed, 'finalUrl');
  const status: unknown = Reflect.get(parsed, 'status');
  const headers: unknown = Reflect.get(parsed, 'headers');
  const text: unknown = Reflect.get(parsed, 'text');
  if (
    typeof finalUrl !== 'string' ||
    typeof text !== 'string' ||
    !(typeof status === 'number' || status === null) ||
    !isStringRecord(headers)
  ) {
    throw new Error(`${resultFile} does not hold a SignInResult`);
  }
  return { finalUrl, status, headers, text };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((item) => typeof item === 'string');
}
