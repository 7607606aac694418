// The program behind `$BROWSER` in CLI tests (see browser-command.ts): signs in at the URL it is given, over
// HTTP or (with --person chromium) in headless Chromium.
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { closeBrowser } from './browser.js';
import { type Person, signInAs, signInOptionsFor } from './person.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    login: { type: 'string' },
    'result-file': { type: 'string' },
    'stop-at-callback': { type: 'boolean', default: false },
    person: { type: 'string', default: 'http' },
  },
});

const url = positionals.at(-1);
const resultFile = values['result-file'];
const person: Person = values.person === 'chromium' ? 'chromium' : 'http';

try {
  if (url === undefined) {
    throw new Error('usage: browser-open.ts [--person http|chromium] [--login NAME] [--result-file FILE] [--stop-at-callback] -- URL');
  }
  const result = await signInAs(person, url, signInOptionsFor(url, { login: values.login, stopAtCallback: values['stop-at-callback'] }));
  if (resultFile !== undefined) await writeResult(resultFile, result);
  await closeBrowser();
  process.exit(0);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`browser-open: ${message}\n`);
  if (resultFile !== undefined) await writeResult(resultFile, { error: message });
  await closeBrowser().catch(() => undefined);
  process.exit(1);
}

// The test may poll for the file while the CLI has already exited: it must appear whole or not at all.
async function writeResult(file: string, result: unknown): Promise<void> {
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(result));
  await rename(partial, file);
}
