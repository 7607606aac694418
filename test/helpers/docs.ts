import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The README keeps the quick start and the command summary; the guides live in docs/, one file per topic.
// Tests that check what the documentation shows read them all, in the order the README lists them, so a
// section is found wherever it lives.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The guides, in the README's order. */
export const GUIDES = [
  'remote-sign-in.md',
  'tui.md',
  'providers.md',
  'library.md',
  'other-tools.md',
  'profiles.md',
  'tokens.md',
  'mcp.md',
  'storage.md',
  'aws.md',
  'google-cloud-and-azure.md',
  'agent.md',
  'fleets.md',
  'security.md',
  'contributing.md',
  'benchmarks.md',
] as const;

/** README.md and every guide, one after the other. */
export async function readDocs(): Promise<string> {
  const files = ['README.md', ...GUIDES.map((guide) => join('docs', guide))];
  return (await Promise.all(files.map((file) => readFile(join(ROOT, file), 'utf8')))).join('\n');
}
