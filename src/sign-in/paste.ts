import { LoginkitError } from '../errors.js';
import { abortion } from './abort.js';
import { type StateProblem, checkCallbackState } from '../oauth/callback-state.js';
import type { LoginEvent } from './events.js';

/** Why a pasted text was not taken as this login's authorization response. */
export type PasteRejection =
  /** Neither a URL, nor its query, nor `code#state`. */
  | 'not_a_url'
  /** A URL, but not the redirect URI this login sent (another page, host or port). */
  | 'wrong_address'
  /** Only a code: without its `state` it cannot be tied to this login. */
  | 'code_without_state'
  | StateProblem;

/** The verdict on one pasted text. */
export type PastedCallback = { ok: true; url: URL } | { ok: false; reason: PasteRejection | 'empty' };

/**
 * Turns what the person pasted into the callback URL the loopback listener would have received, after the
 * same `state` check the listener makes (exactly one, constant-time equal). Accepted: the full URL the
 * browser ended on (it must be `redirectUri`: same scheme, host, port and path), just its query string, or
 * `code#state` as code pages show it. The rest of the checks (RFC 9207 `iss`, `error`) happen where the
 * listener's callback goes too: in the code exchange.
 */
export function checkPastedCallback(text: string, redirectUri: string, expectedState: string): PastedCallback {
  const trimmed = text.trim().replace(/^["'<]+|["'>]+$/g, '');
  if (trimmed === '') return { ok: false, reason: 'empty' };
  let params: URLSearchParams;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    let pasted: URL;
    try {
      pasted = new URL(trimmed);
    } catch {
      return { ok: false, reason: 'not_a_url' };
    }
    const expected = new URL(redirectUri);
    if (pasted.protocol !== expected.protocol || pasted.host !== expected.host || pasted.pathname !== expected.pathname) {
      return { ok: false, reason: 'wrong_address' };
    }
    params = pasted.searchParams;
  } else if (/^\??[\w.~-]+=/.test(trimmed)) {
    params = new URLSearchParams(trimmed.startsWith('?') ? trimmed.slice(1) : trimmed);
  } else if (/^[^\s#?&=]+#[^\s#?&=]+$/.test(trimmed)) {
    const [code = '', state = ''] = trimmed.split('#');
    params = new URLSearchParams({ code, state });
  } else {
    return { ok: false, reason: /^[\w.~-]{8,}$/.test(trimmed) ? 'code_without_state' : 'not_a_url' };
  }
  const problem = checkCallbackState(params, expectedState);
  if (problem) return { ok: false, reason: problem };
  const url = new URL(redirectUri);
  url.search = params.toString();
  return { ok: true, url };
}

/** Options for {@link readPastedCallback}. */
export interface PasteReading {
  /** The redirect URI this login sent, with its port. */
  redirectUri: string;
  expectedState: string;
  onEvent: (event: LoginEvent) => void;
  /** Stops reading: the callback arrived, the login timed out or was cancelled. */
  signal: AbortSignal;
  /**
   * When the input ends with nothing accepted: `wait` for the callback (pasting was a fallback), or `fail`
   * at once (pasting was the way to sign in, e.g. `--paste` with a piped stdin).
   */
  whenInputEnds: 'wait' | 'fail';
}

/**
 * Reads pasted texts until one is this login's authorization response; each refused one is reported as
 * `paste_rejected` and reading goes on. When the input ends it fails, or keeps waiting (for the callback)
 * until `signal` fires, as `whenInputEnds` says. Stops reading from `source` whatever the outcome.
 */
export async function readPastedCallback(source: AsyncIterable<string>, reading: PasteReading): Promise<URL> {
  const stopped = abortion(reading.signal);
  stopped.catch(() => undefined);
  const iterator = source[Symbol.asyncIterator]();
  reading.onEvent({ type: 'paste_requested', redirectUri: reading.redirectUri });
  try {
    for (;;) {
      // An input that fails (a closed terminal) counts as ended: the callback can still arrive.
      const next = await Promise.race([iterator.next().catch((): IteratorResult<string> => ({ done: true, value: undefined })), stopped]);
      if (next.done) {
        if (reading.whenInputEnds === 'wait') return await stopped;
        throw new LoginkitError(
          'usage',
          'The input ended before a pasted address was accepted; nothing was signed in.\nRun the login again and paste the full address your browser ended on.',
        );
      }
      const verdict = checkPastedCallback(next.value, reading.redirectUri, reading.expectedState);
      if (verdict.ok) return verdict.url;
      if (verdict.reason !== 'empty') reading.onEvent({ type: 'paste_rejected', reason: verdict.reason });
    }
  } finally {
    Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
