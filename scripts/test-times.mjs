// node:test reporter used by scripts/test.mjs: records how long each test file took (the sum of its top-level
// tests), so that the next run starts the slowest files first and the run does not end waiting on one of them.
// Files are recorded by their .ts path relative to the repository, whether they ran compiled or under tsx.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFile } from './compile-tests.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TIMES_FILE = join(root, 'node_modules/.cache/loginkit/test-times.json');

/** The recorded durations in ms by file (relative to the repository), {} when there are none. */
export function readTestTimes() {
  try {
    const parsed = JSON.parse(readFileSync(TIMES_FILE, 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

export default async function* testTimes(source) {
  const times = {};
  const recorded = readTestTimes();
  for await (const event of source) {
    const { type, data } = event;
    if ((type === 'test:pass' || type === 'test:fail') && data.nesting === 0 && data.file && data.details?.duration_ms !== undefined) {
      const file = sourceFile(data.file);
      times[file] = (times[file] ?? 0) + data.details.duration_ms;
      // Written as each file's tests end, not once at the end: --test-force-exit ends the run before the
      // reporter's last step would run.
      mkdirSync(dirname(TIMES_FILE), { recursive: true });
      writeFileSync(TIMES_FILE, `${JSON.stringify({ ...recorded, ...times }, null, 1)}\n`);
    }
  }
}
