// How a test starts one of its TypeScript programs (a `$BROWSER`, a lock holder) as a separate Node.js process.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Resolved here, so the command works whatever the child's working directory is.
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * The arguments for this Node.js that run the TypeScript program at `url`: its compiled `.js` sibling when the
 * tests run from `npm test`'s compiled mirror (scripts/compile-tests.mjs), else the `.ts` file under tsx.
 */
export function nodeProgram(url: URL): string[] {
  const compiled = new URL(url.href.replace(/\.ts$/, '.js'));
  return existsSync(compiled) ? ['--enable-source-maps', fileURLToPath(compiled)] : ['--import', TSX_LOADER, fileURLToPath(url)];
}
