// The program behind `$BROWSER` in CLI tests (see browser-command.ts): signs in at the URL it is given.
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { closeBrowser, signInWithBrowser, type SignInOptions } from './browser.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    login: { type: 'string' },
    'result-file': { type: 'string' },
    'stop-at-callback': { type: 'boolean', default: false },
  },
});

const url = positionals.at(-1);
const resultFile = values['result-file'];

try {
  if (url === undefined) throw new Error('usage: browser-open.ts [--login NAME] [--result-file FILE] [--stop-at-callback] -- URL');
  const result = await signInWithBrowser(url, signInOptions(url));
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

function signInOptions(authorizationUrl: string): SignInOptions {
  const options: SignInOptions = {};
  if (values.login !== undefined) options.login = values.login;
  const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri');
  if (values['stop-at-callback'] && redirectUri !== null) options.stopAtCallbackPrefix = redirectUri;
  return options;
}

// The test may poll for the file while the CLI has already exited: it must appear whole or not at all.
async function writeResult(file: string, result: unknown): Promise<void> {
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(result));
  await rename(partial, file);
}
