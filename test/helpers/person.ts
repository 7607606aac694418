// The person at the sign-in page when the browser is not what a test is about: an HTTP client that does what
// Chromium does on oidc-provider's dev pages (follows redirects, keeps cookies per host and path, fills and
// submits the login, consent and device forms) and ends where the browser would, on the first page off the
// authorization server, usually loginkit's own listener. A sign-in costs Chromium over a second of CPU and this
// a few milliseconds; the tests of the browser sign-in itself (test/e2e/browser-login.test.ts, the first MCP
// sign-in, the harness, which checks that both persons end on the same page) keep Chromium.
import { type SignInOptions, type SignInResult, signInWithBrowser } from './browser.js';

/** Who completes a sign-in: this HTTP client, or headless Chromium (browser.ts) when the browser is under test. */
export type Person = 'http' | 'chromium';

/** Options for {@link signInOverHttp}. */
export interface HttpSignInOptions extends SignInOptions {
  /** Stop before requesting any URL starting with this (the callback), so it never reaches the listener. */
  stopAtCallbackPrefix?: string;
}

/** The options for signing in at `authorizationUrl` as `login`, stopping at its own redirect_uri when `stopAtCallback`. */
export function signInOptionsFor(
  authorizationUrl: string,
  opts: { login?: string | undefined; stopAtCallback?: boolean | undefined },
): HttpSignInOptions {
  const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri');
  return {
    ...(opts.login === undefined ? {} : { login: opts.login }),
    ...(opts.stopAtCallback === true && redirectUri !== null ? { stopAtCallbackPrefix: redirectUri } : {}),
  };
}

/** Signs in at `url` as `person`; only the HTTP person stops at the callback. */
export async function signInAs(person: Person, url: string, opts: HttpSignInOptions = {}): Promise<SignInResult> {
  if (person === 'http') return signInOverHttp(url, opts);
  const { stopAtCallbackPrefix, ...browserOptions } = opts;
  if (stopAtCallbackPrefix !== undefined) throw new Error('only the HTTP person stops at the callback');
  return signInWithBrowser(url, browserOptions);
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_LOGIN = 'alice';
// Redirects and pages together: a sign-in is four or five requests, more means the flow is looping.
const MAX_REQUESTS = 16;

interface Request {
  url: string;
  form?: URLSearchParams;
}

interface Page {
  url: string;
  /** Null when the request was stopped before it was sent (at `stopAtCallbackPrefix`). */
  status: number | null;
  headers: Record<string, string>;
  html: string;
}

/** Signs in at `url` through the authorization server's dev login form, as {@link signInWithBrowser} does in Chromium. */
export async function signInOverHttp(url: string, opts: HttpSignInOptions = {}): Promise<SignInResult> {
  const login = opts.login ?? DEFAULT_LOGIN;
  const issuerOrigin = new URL(url).origin;
  const browser = new HttpBrowser(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.stopAtCallbackPrefix);
  let request: Request = { url };
  while (true) {
    const page = await browser.open(request);
    if (page.status === null) return { finalUrl: page.url, status: null, headers: {}, text: '' };
    if (new URL(page.url).origin !== issuerOrigin) {
      return { finalUrl: page.url, status: page.status, headers: page.headers, text: visibleText(page.html) };
    }
    request = signInSubmission(page, login);
  }
}

/** Completes a device authorization as the person on another device would; resolves with the success page's text. */
export async function completeDeviceSignInOverHttp(verificationUri: string, userCode: string, opts: SignInOptions = {}): Promise<string> {
  const login = opts.login ?? DEFAULT_LOGIN;
  const browser = new HttpBrowser(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let request: Request = { url: verificationUri };
  let codeEntered = false;
  while (true) {
    const page = await browser.open(request);
    if (/<title>\s*Sign-in Success\s*<\/title>/i.test(page.html)) return visibleText(page.html);
    const forms = formsOf(page);
    const confirm = forms.find((form) => form.id === 'op.deviceConfirmForm');
    const input = forms.find((form) => form.id === 'op.deviceInputForm');
    if (confirm !== undefined) {
      request = submission(confirm);
    } else if (input !== undefined) {
      if (codeEntered) throw new Error(`the user code was not accepted: ${visibleText(page.html)}`);
      input.fields.set('user_code', userCode);
      request = submission(input);
      codeEntered = true;
    } else {
      request = signInSubmission(page, login);
    }
  }
}

/** Cookies by host and path, and redirects, bounded in requests and time: as much browser as oidc-provider's pages need. */
class HttpBrowser {
  readonly #cookies = new Map<string, { host: string; name: string; value: string; path: string }>();
  readonly #deadline: number;
  readonly #stopAt: string | undefined;
  #requests = 0;

  constructor(timeoutMs: number, stopAt?: string) {
    this.#deadline = Date.now() + timeoutMs;
    this.#stopAt = stopAt;
  }

  /** Sends `request`, following redirects; resolves with the page the last one showed, or where it stopped. */
  async open(first: Request): Promise<Page> {
    let request = first;
    while (true) {
      if (this.#stopAt !== undefined && request.url.startsWith(this.#stopAt))
        return { url: request.url, status: null, headers: {}, html: '' };
      this.#requests += 1;
      if (this.#requests > MAX_REQUESTS)
        throw new Error(`sign-in did not leave the authorization server after ${MAX_REQUESTS} requests; at ${request.url}`);
      const response = await fetch(request.url, {
        method: request.form === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: {
          ...this.#cookieHeader(request.url),
          ...(request.form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        ...(request.form === undefined ? {} : { body: request.form.toString() }),
        signal: AbortSignal.timeout(Math.max(1, this.#deadline - Date.now())),
      }).catch((error: unknown) => {
        throw new Error(`browser sign-in failed at ${request.url}: ${error instanceof Error ? error.message : String(error)}`);
      });
      this.#keepCookies(request.url, response.headers.getSetCookie());
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        request = { url: new URL(location, request.url).href };
        continue;
      }
      return { url: request.url, status: response.status, headers: Object.fromEntries(response.headers), html: await response.text() };
    }
  }

  // As in a browser, a host's cookies go to every port of it.
  #cookieHeader(url: string): Record<string, string> {
    const { hostname, pathname } = new URL(url);
    const pairs = [...this.#cookies.values()]
      .filter((cookie) => cookie.host === hostname && pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`);
    return pairs.length === 0 ? {} : { cookie: pairs.join('; ') };
  }

  #keepCookies(url: string, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      const attribute = (key: string): string | undefined =>
        attributes.find((part) => part.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      const { hostname, pathname } = new URL(url);
      const key = `${hostname} ${name}`;
      const expires = attribute('expires');
      if (value === '' || (expires !== undefined && Date.parse(expires) <= Date.now())) this.#cookies.delete(key);
      else this.#cookies.set(key, { host: hostname, name, value, path: attribute('path') ?? pathname });
    }
  }
}

interface Form {
  id: string | undefined;
  action: string;
  fields: URLSearchParams;
  /** Names of text and password inputs the person types into. */
  typed: Set<string>;
}

/** What the person submits on an authorization server page: the login form, or the consent form. */
function signInSubmission(page: Page, login: string): Request {
  const forms = formsOf(page);
  const loginForm = forms.find((form) => form.typed.has('login'));
  if (loginForm !== undefined) {
    loginForm.fields.set('login', login);
    loginForm.fields.set('password', 'any-password');
    return submission(loginForm);
  }
  // oidc-provider's dev consent page, should a configuration ever bring it back.
  const consent = forms.find((form) => form.typed.size === 0);
  if (consent !== undefined) return submission(consent);
  throw new Error(`unexpected page at ${page.url} (${page.status}): ${visibleText(page.html)}`);
}

function submission(form: Form): Request {
  return { url: form.action, form: form.fields };
}

function formsOf(page: Page): Form[] {
  return [...page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)]
    .map(([, attributeText = '', inner = '']) => ({ attributes: attributesOf(attributeText), inner }))
    .filter(({ attributes }) => (attributes.get('method') ?? 'get').toLowerCase() === 'post')
    .map(({ attributes, inner }) => {
      const fields = new URLSearchParams();
      const typed = new Set<string>();
      for (const [, inputText = ''] of inner.matchAll(/<input\b([^>]*)>/gi)) {
        const input = attributesOf(inputText);
        const name = input.get('name');
        if (name === undefined) continue;
        const type = (input.get('type') ?? 'text').toLowerCase();
        if (type === 'text' || type === 'password' || type === 'email') typed.add(name);
        fields.set(name, input.get('value') ?? '');
      }
      return { id: attributes.get('id'), action: new URL(attributes.get('action') ?? page.url, page.url).href, fields, typed };
    });
}

function attributesOf(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const [, name = '', value = ''] of text.matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g))
    attributes.set(name.toLowerCase(), decodeEntities(value));
  return attributes;
}

/** Roughly `document.body.innerText`: the body without markup, styles or scripts, one line per block. */
function visibleText(html: string): string {
  const body = /<body\b[^>]*>([\s\S]*)<\/body>/i.exec(html)?.[1] ?? html;
  return decodeEntities(
    body
      .replace(/<(head|title|script|style)\b[\s\S]*?<\/\1>/gi, '')
      .replace(/<br\s*\/?>|<\/(p|div|h\d|li|tr)>/gi, '\n')
      .replace(/<[^>]+>/g, ''),
  )
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter((line) => line !== '')
    .join('\n');
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
  return text.replace(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (entity: string, code: string) => {
    if (code.startsWith('#x') || code.startsWith('#X')) return String.fromCodePoint(Number.parseInt(code.slice(2), 16));
    if (code.startsWith('#')) return String.fromCodePoint(Number.parseInt(code.slice(1), 10));
    return named[code.toLowerCase()] ?? entity;
  });
}
