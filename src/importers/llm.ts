// Simon Willison's llm: `keys.json` in its user folder (`llm keys path`), which is `$LLM_USER_PATH`
// when set, else click.get_app_dir("io.datasette.llm") (llm/__init__.py `user_dir`, click/utils.py):
//   Linux and others: `${XDG_CONFIG_HOME:-~/.config}/io.datasette.llm`
//   macOS:            `~/Library/Application Support/io.datasette.llm`
//   Windows:          `%APPDATA%\io.datasette.llm` (the home folder when APPDATA is unset)
// The file maps key names to keys, plus a note: {"// Note": "This file stores secret API credentials…",
// "openai": "sk-…", …}. Each model plugin picks its key name (`needs_key`).
import * as z from 'zod/mini';

import type { EnvVars } from '../shared/home.js';
import { lookupProvider, offerApiKey, quoted, skip, type Finding } from './findings.js';
import { formatError, pathFor, type SourceSpec } from './source.js';

const APP_NAME = 'io.datasette.llm';

/** llm key names that differ from loginkit ids, with the plugin that uses each. */
const RENAMES: Readonly<Record<string, string>> = {
  claude: 'anthropic', // llm-claude-3 and older llm-anthropic; current llm-anthropic uses "anthropic"
  grok: 'xai', // llm-grok
  hf: 'huggingface', // llm-hf (Hugging Face inference providers)
  azure: 'azure-openai', // llm-azure
};
// Names that already equal loginkit ids: openai (llm itself), anthropic (llm-anthropic), gemini
// (llm-gemini), mistral (llm-mistral), groq (llm-groq), openrouter (llm-openrouter), perplexity
// (llm-perplexity), deepseek (llm-deepseek), together (llm-together), fireworks (llm-fireworks),
// cohere (llm-command-r); some plugins also use xai and huggingface.

const FileSchema = z.record(z.string(), z.unknown());

export const llmSource: SourceSpec = {
  tool: 'llm',
  locate: (env, platform, home) => pathFor(platform).join(llmUserDir(env, platform, home), 'keys.json'),
  missingHint: 'Store a key with `llm keys set <name>` first; `llm keys path` shows where llm keeps them.',
  plan: planLlm,
};

function llmUserDir(env: EnvVars, platform: NodeJS.Platform, home: string): string {
  if (env.LLM_USER_PATH) return env.LLM_USER_PATH;
  const { join } = pathFor(platform);
  // click reads an empty variable as a relative path; treating it as unset is what the person meant.
  if (platform === 'win32') return join(env.APPDATA || home, APP_NAME);
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', APP_NAME);
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), APP_NAME);
}

function planLlm(json: unknown, file: string): Finding[] {
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) throw formatError(llmSource, file, 'keys.json', parsed.error.issues[0]);
  const findings: Finding[] = [];
  // Entries are read from the parsed JSON itself, not from a copy a schema built from its keys.
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name.startsWith('//')) continue; // llm's own "// Note"
    const what = `llm ${quoted(name)}`;
    const provider = lookupProvider(name, RENAMES);
    if (typeof value !== 'string') findings.push(skip(what, 'the value is not a string'));
    else if (!provider) findings.push(skip(what, 'no matching loginkit provider'));
    else findings.push(offerApiKey(provider, name, what, value, `llm keys.json ${quoted(name)}`));
  }
  return findings;
}
