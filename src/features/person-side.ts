import type { LoginkitContext } from '../context.js';
import type { LoginEvent } from '../sign-in/events.js';
import type { LoginEnvironment, LoginMethod } from '../sign-in/login-environment.js';
import type { SignInRequest } from '../sign-in/sign-in.js';

/** What the caller of a sign-in says about reaching the person; a provider's login and an MCP server's take the same. */
export interface PersonOptions {
  method?: LoginMethod | 'auto';
  noBrowser?: boolean;
  pasted?: AsyncIterable<string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  onEvent?: (event: LoginEvent) => void;
}

/**
 * The person's side of a sign-in request: how the URL reaches them (the client's `openBrowser`, else the
 * system browser), what they paste, where progress goes (the client's `onEvent` and this sign-in's),
 * cancellation, the wait and the clock.
 */
export function personSide(
  ctx: LoginkitContext,
  options: PersonOptions,
  environment: LoginEnvironment,
): Pick<
  SignInRequest,
  'method' | 'environment' | 'openBrowser' | 'browserInjected' | 'noBrowser' | 'pasted' | 'onEvent' | 'signal' | 'timeoutMs' | 'now'
> {
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
    },
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    now: ctx.now,
  };
}
