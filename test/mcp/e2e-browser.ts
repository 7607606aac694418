// The program behind `$BROWSER` in the MCP end-to-end test: a forger first, then the person.
// With --forge-first it sends loginkit's listener callbacks that must be refused (a wrong `state`, the wrong
// path), records the answers, then signs in at the real authorization URL (in headless chromium with
// --person chromium, else over HTTP). Each run
// appends one JSON line to the result file: the authorization URL, the forged answers and where the browser ended.
import { appendFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { closeBrowser } from '../helpers/browser.js';
import { signInAs } from '../helpers/person.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    login: { type: 'string' },
    'result-file': { type: 'string' },
    'forge-first': { type: 'boolean', default: false },
    person: { type: 'string', default: 'http' },
  },
});

const url = positionals.at(-1);
const resultFile = values['result-file'];

try {
  if (url === undefined || resultFile === undefined)
    throw new Error('usage: e2e-browser.ts --result-file FILE [--forge-first] [--person http|chromium] -- URL');
  const forged = values['forge-first'] ? await forgeCallbacks(new URL(url)) : [];
  const person = values.person === 'chromium' ? 'chromium' : 'http';
  const signIn = await signInAs(person, url, values.login === undefined ? {} : { login: values.login });
  await appendFile(resultFile, `${JSON.stringify({ authorizationUrl: url, forged, finalUrl: signIn.finalUrl, text: signIn.text })}\n`);
  await closeBrowser();
  process.exit(0);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`e2e-browser: ${message}\n`);
  if (resultFile !== undefined) await appendFile(resultFile, `${JSON.stringify({ error: message })}\n`);
  await closeBrowser().catch(() => undefined);
  process.exit(1);
}

/** Callbacks an attacker could send to the listener while the person signs in; none may be accepted. */
async function forgeCallbacks(authorizationUrl: URL): Promise<Array<{ what: string; status: number }>> {
  const redirectUri = authorizationUrl.searchParams.get('redirect_uri');
  if (redirectUri === null) throw new Error('the authorization URL has no redirect_uri');
  const issuer = authorizationUrl.origin;
  const wrongState = new URL(redirectUri);
  wrongState.search = new URLSearchParams({ code: 'forged-code', state: 'not-the-state', iss: issuer }).toString();
  const wrongPath = new URL(redirectUri);
  wrongPath.pathname = '/elsewhere';
  wrongPath.search = new URLSearchParams({
    code: 'forged-code',
    state: authorizationUrl.searchParams.get('state') ?? '',
    iss: issuer,
  }).toString();
  const forged: Array<{ what: string; status: number }> = [];
  for (const [what, target] of [
    ['wrong state', wrongState],
    ['wrong path', wrongPath],
  ] as const) {
    const response = await fetch(target, { redirect: 'manual' });
    await response.arrayBuffer();
    forged.push({ what, status: response.status });
  }
  return forged;
}
