// Import from other tools: read their credentials files (never writing them) and say what could be
// imported and what is left out. Storing the candidates is the caller's job.
import type { Environment } from '../home.js';
import { codexSource } from './codex.js';
import { collectPlan } from './findings.js';
import { llmSource } from './llm.js';
import { opencodeSource } from './opencode.js';
import { homeFolder, readSourceJson, type SourceSpec } from './source.js';
import type { ImportPlan, ImportSource } from './types.js';

export { ANTHROPIC_SUBSCRIPTION_REASON } from './findings.js';
export { maskSecret } from './mask.js';
export { IMPORT_SOURCES, type ImportCandidate, type ImportPlan, type ImportSource, type Skipped } from './types.js';

const SOURCES: Readonly<Record<ImportSource, SourceSpec>> = {
  codex: codexSource,
  opencode: opencodeSource,
  llm: llmSource,
};

/**
 * Where `source` keeps its credentials, resolved the way that tool resolves it from `env`, the platform
 * and the home folder (default: `$HOME`, `%USERPROFILE%` on Windows, else the OS's idea of it).
 */
export function findSourceFile(
  source: ImportSource,
  env: Environment,
  platform: NodeJS.Platform = process.platform,
  homedir?: string,
): string {
  return SOURCES[source].locate(env, platform, homeFolder(env, platform, homedir));
}

/**
 * Reads `source`'s credentials file read-only and returns what it holds. Throws a StorageError naming
 * the file (and never quoting its contents) when it is missing, unreadable or not in the tool's format.
 */
export async function readImportPlan(
  source: ImportSource,
  env: Environment,
  platform: NodeJS.Platform = process.platform,
  homedir?: string,
): Promise<ImportPlan> {
  const spec = SOURCES[source];
  const file = findSourceFile(source, env, platform, homedir);
  const findings = spec.plan(await readSourceJson(spec, file), file);
  return { source, file, ...collectPlan(findings) };
}
