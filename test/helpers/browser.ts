// playwright-core is loaded when a browser is first needed: importing this file for its types or closeBrowser costs nothing.
import type { Browser, BrowserContext, BrowserServer, Page, Response } from 'playwright-core';

/** Where a browser sign-in ended. */
export interface SignInResult {
  /** URL of the page the browser settled on, or of the callback it stopped at (the HTTP person's `stopAtCallbackPrefix`). */
  finalUrl: string;
  /** Status of the final document response; null when the person stopped at the callback. */
  status: number | null;
  /** Headers of the final document response, names in lower case. */
  headers: Record<string, string>;
  /** Visible text of the final page (`document.body.innerText`). */
  text: string;
}

/** Options for {@link signInWithBrowser}. */
export interface SignInOptions {
  /** Name typed into the dev login form; it becomes the account's `sub`. Default 'alice'. */
  login?: string;
  /** Limit for the whole sign-in. Default 30 s. */
  timeoutMs?: number;
}

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Everything under test is on loopback; the dev pages' web-font import must fail fast, not hang.
  '--no-proxy-server',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_LOGIN = 'alice';
// Login, an optional consent page, and slack: more steps than that means the flow is looping.
const MAX_STEPS = 6;

/**
 * When set (scripts/test.mjs does, for a whole run), the websocket endpoint of one Chromium that every test
 * process connects to instead of launching its own. Not a LOGINKIT_ variable: a CLI process passes it on to its
 * `$BROWSER`.
 */
export const SHARED_BROWSER_VARIABLE = 'TEST_CHROMIUM_WS_ENDPOINT';

let launchedBrowser: Promise<Browser> | undefined;
/**
 * Pages of this process's connection that finished a sign-in, cookies cleared, ready for the next one. A new page
 * costs Chromium about 0.75 s of CPU (a renderer process): reusing pages halves what a sign-in costs.
 */
let idlePages: OpenPage[] = [];

interface OpenPage {
  context: BrowserContext;
  page: Page;
}

/** Signs in through the authorization server's dev login form at `url`, as a person would. */
export async function signInWithBrowser(url: string, opts: SignInOptions = {}): Promise<SignInResult> {
  const login = opts.login ?? DEFAULT_LOGIN;
  const issuerOrigin = new URL(url).origin;
  return withFreshPage(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, async (page) => {
    const documents = trackDocumentResponses(page);
    try {
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      for (let step = 0; step < MAX_STEPS; step += 1) {
        if (pageOrigin(page) !== issuerOrigin) return await describeSettledPage(page, documents);
        await actOnSignInPage(page, login);
      }
      throw new Error(`sign-in did not leave the authorization server after ${MAX_STEPS} pages; at ${page.url()}`);
    } finally {
      documents.stop();
    }
  });
}

/** Launches the Chromium that a whole test run shares (see {@link SHARED_BROWSER_VARIABLE}). */
export async function launchBrowserServer(): Promise<BrowserServer> {
  const { chromium } = await import('playwright-core');
  return chromium.launchServer({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/** Closes (or disconnects from) the browser shared by this process, if there is one. */
export async function closeBrowser(): Promise<void> {
  const browser = launchedBrowser;
  launchedBrowser = undefined;
  idlePages = [];
  await (await browser?.catch(() => undefined))?.close();
}

async function sharedBrowser(): Promise<Browser> {
  const current = launchedBrowser === undefined ? undefined : await launchedBrowser;
  if (current?.isConnected()) return current;
  const endpoint = process.env[SHARED_BROWSER_VARIABLE];
  idlePages = [];
  launchedBrowser = import('playwright-core').then(({ chromium }) =>
    endpoint ? chromium.connect(endpoint) : chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true }),
  );
  launchedBrowser.catch(() => {
    launchedBrowser = undefined;
  });
  return launchedBrowser;
}

// Each sign-in starts on a page without cookies, its own or one a finished sign-in left: sharing one browser
// shares no session. A page whose sign-in failed is closed, not reused.
async function withFreshPage<T>(timeoutMs: number, drive: (page: Page) => Promise<T>): Promise<T> {
  const browser = await sharedBrowser();
  const open = idlePages.pop() ?? (await openPage(browser));
  const { page } = open;
  let timer: NodeJS.Timeout | undefined;
  let reusable = false;
  try {
    page.setDefaultTimeout(timeoutMs);
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`browser sign-in timed out after ${timeoutMs} ms at ${page.url()}`)), timeoutMs);
    });
    const result = await Promise.race([drive(page), timedOut]);
    reusable = true;
    return result;
  } finally {
    clearTimeout(timer);
    const stillConnected = (await launchedBrowser?.catch(() => undefined)) === browser;
    if (reusable && stillConnected && (await clearPage(open))) idlePages.push(open);
    else await open.context.close().catch(() => undefined);
  }
}

async function openPage(browser: Browser): Promise<OpenPage> {
  const context = await browser.newContext();
  return { context, page: await context.newPage() };
}

/** Leaves the page blank and without cookies; false when that failed and the page must not be reused. */
async function clearPage({ context, page }: OpenPage): Promise<boolean> {
  try {
    await page.goto('about:blank');
    await context.clearCookies();
    return true;
  } catch {
    return false;
  }
}

function trackDocumentResponses(page: Page): { last(): Response | undefined; stop(): void } {
  let last: Response | undefined;
  const track = (response: Response): void => {
    if (response.request().isNavigationRequest() && response.request().frame() === page.mainFrame()) last = response;
  };
  page.on('response', track);
  return { last: () => last, stop: () => page.off('response', track) };
}

async function actOnSignInPage(page: Page, login: string): Promise<void> {
  if (await hasElement(page, 'input[name="login"]')) {
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', 'any-password');
    await submitAndWaitForNavigation(page, () => page.click('button[type="submit"]'));
  } else if (await hasElement(page, 'form[method="post"] button[type="submit"]')) {
    // oidc-provider's dev consent page, should a configuration ever bring it back.
    await submitAndWaitForNavigation(page, () => page.click('form[method="post"] button[type="submit"]'));
  } else {
    throw new Error(`unexpected page at ${page.url()}: ${await visibleText(page)}`);
  }
}

async function submitAndWaitForNavigation(page: Page, submit: () => Promise<void>): Promise<void> {
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
  // Awaited below; if `submit` fails (or the page closes) first, its rejection must not go unhandled.
  navigated.catch(() => undefined);
  await submit();
  await navigated;
  await page.waitForLoadState('domcontentloaded');
}

async function describeSettledPage(page: Page, documents: { last(): Response | undefined }): Promise<SignInResult> {
  await page.waitForLoadState('load');
  const response = await documentResponseFor(page, documents);
  return {
    finalUrl: page.url(),
    status: response?.status() ?? null,
    headers: response === undefined ? {} : await response.allHeaders(),
    text: await visibleText(page),
  };
}

// The response event can trail the commit of the page it belongs to.
async function documentResponseFor(page: Page, documents: { last(): Response | undefined }): Promise<Response | undefined> {
  const committedUrl = withoutFragment(page.url());
  for (let waited = 0; waited < 2_000; waited += 20) {
    const response = documents.last();
    if (response !== undefined && withoutFragment(response.url()) === committedUrl) return response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return documents.last();
}

function withoutFragment(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

function pageOrigin(page: Page): string {
  return new URL(page.url()).origin;
}

async function hasElement(page: Page, selector: string): Promise<boolean> {
  return (await page.locator(selector).count()) > 0;
}

async function visibleText(page: Page): Promise<string> {
  return page
    .locator('body')
    .innerText({ timeout: 2_000 })
    .catch(() => '');
}
