import type { LoginkitContext } from '../context.js';
import type { LoginEvent } from '../sign-in/events.js';
import { instructionWriter } from '../sign-in/instructions.js';
import type { LoginEnvironment, LoginMethod } from '../sign-in/login-environment.js';
import type { SignInRequest } from '../sign-in/sign-in.js';

/** What the caller of a sign-in says about reaching the person; a provider's login and an MCP server's take the same. */
export interface PersonOptions {
  /** How long to wait for the person, in ms. Default: 300 000; for a device code, the code's lifetime. */
  timeoutMs?: number | undefined;
  /** Only announce the URL (event `authorization_url`); do not open a browser. */
  noBrowser?: boolean | undefined;
  /** `browser`, `device` (a code entered on any device), `paste`, or `auto` (default: decided from the environment). */
  method?: LoginMethod | 'auto' | undefined;
  /** What the person pastes (the URL their browser ended on), raced against the loopback callback; see `createPasteBox`. */
  pasted?: AsyncIterable<string> | undefined;
  /** Cancels the sign-in. */
  signal?: AbortSignal | undefined;
  /** Receives progress of this sign-in (in addition to the client's `onEvent`). */
  onEvent?: ((event: LoginEvent) => void) | undefined;
  /**
   * With no `onEvent` here or on the client, a sign-in that needs a person writes what to do (the URL, the
   * device code, where to paste) to stderr, as the CLI does; `quiet: true` keeps it silent instead.
   */
  quiet?: boolean | undefined;
}

/**
 * The person's side of a sign-in request: how the URL reaches them (the client's `openBrowser`, else the
 * system browser), what they paste, where progress goes (the client's `onEvent` and this sign-in's; with
 * neither, instructions on stderr), cancellation, the wait and the clock. `name` is what the person signs in to.
 */
export function personSide(
  ctx: LoginkitContext,
  options: PersonOptions,
  environment: LoginEnvironment,
  name: string,
): Pick<
  SignInRequest,
  'method' | 'environment' | 'openBrowser' | 'browserInjected' | 'noBrowser' | 'pasted' | 'onEvent' | 'signal' | 'timeoutMs' | 'now'
> {
  const silent = ctx.listensToEvents || options.onEvent !== undefined || options.quiet === true;
  const instructions = silent
    ? undefined
    : instructionWriter((text) => process.stderr.write(text), name, {
        browserReachesPerson: ctx.openBrowser !== undefined && options.noBrowser !== true,
        now: ctx.now,
      });
  return {
    method: options.method ?? 'auto',
    environment,
    openBrowser: ctx.openBrowser ?? (async (url: string) => (await import('../sign-in/browser.js')).openSystemBrowser(url, ctx.env)),
    browserInjected: ctx.openBrowser !== undefined,
    noBrowser: options.noBrowser === true,
    pasted: options.pasted,
    onEvent: (event) => {
      ctx.emit(event);
      options.onEvent?.(event);
      instructions?.(event);
    },
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    now: ctx.now,
  };
}
