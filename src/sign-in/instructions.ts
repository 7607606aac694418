// What a person is told during a sign-in, as plain lines: the chosen method, the URL, the device code,
// pasting, SSH port forwarding, and why a request or a paste was turned away. The CLI prints these lines;
// the library writes them to stderr when the application listens to no event, so that no sign-in that
// needs a person is silent. Every line is built from events whose server text is already sanitized.
import type { LoginEvent } from './events.js';
import type { RejectionReason } from './loopback.js';
import type { PasteRejection } from './paste.js';

type Event<T extends LoginEvent['type']> = Extract<LoginEvent, { type: T }>;

/** The first lines: what will happen and what to do. */
export function methodLines(providerName: string, event: Event<'login_method'>): string[] {
  const why = event.reason ? ` (${event.reason})` : '';
  switch (event.method) {
    case 'browser':
      return [`Signing in to ${providerName} through a browser${why}.`];
    case 'device':
      return [`Signing in to ${providerName} with a one-time code you enter on any device with a browser${why}.`];
    case 'paste':
      return [`Signing in to ${providerName} through a browser on any device${why}: open the URL below there and sign in.`];
  }
}

/** The device code, the address with its host spelled out, and the one-line phishing warning. */
export function deviceCodeLines(event: Event<'device_code'>, now: number): string[] {
  const host = new URL(event.verificationUri).host;
  const minutes = Math.max(1, Math.round((event.expiresAt - now) / 60_000));
  return [
    `On any device, open this address (on ${host}):`,
    `  ${event.verificationUri}`,
    `and enter the code (valid for ${minutes} min):`,
    `  ${event.userCode}`,
    ...(event.verificationUriComplete ? ['Or open this link, which carries the code:', `  ${event.verificationUriComplete}`] : []),
    'Enter this code only if you started this sign-in yourself: entering it gives this terminal access to your account.',
  ];
}

/** Over SSH with a fixed callback port: how the person's own browser can reach the listener here. */
export function portForwardingLines(event: Event<'port_forwarding'>): string[] {
  return [
    `Over SSH, your own computer's browser can finish the sign-in if it forwards port ${event.port}. Run there (your usual ssh command plus -L):`,
    `  ${event.command}`,
  ];
}

/** The invitation to paste. */
export function pasteRequestLines(event: Event<'paste_requested'>): string[] {
  return [
    `When the browser ends on an address starting with ${event.redirectUri} (even a page that fails to load),`,
    'paste that full address here and press Enter:',
  ];
}

const PASTE_REJECTION_TEXT: Record<PasteRejection, string> = {
  not_a_url: 'that is not the address the browser ended on',
  wrong_address: 'that address is not this sign-in’s callback (another host, port or path)',
  code_without_state: 'a code alone cannot be tied to this sign-in; paste the whole address',
  state_missing: 'that address has no state, so it cannot be tied to this sign-in',
  state_repeated: 'that address has more than one state',
  state_mismatch: 'that address belongs to another sign-in (its state does not match this one)',
};

/** Why a paste was turned away, and that the login still waits. */
export function pasteRejectedLine(event: Event<'paste_rejected'>): string {
  return `Not accepted: ${PASTE_REJECTION_TEXT[event.reason]}. Still waiting; paste the full address again:`;
}

/** A device-flow poll worth mentioning: the server asked for slower polling, or could not be reached. */
export function devicePollLine(event: Event<'device_poll'>, now: number): string | undefined {
  const seconds = Math.max(1, Math.round((event.nextPollAt - now) / 1000));
  if (event.outcome === 'slow_down')
    return `The server asked to be polled less often: every ${Math.round(event.intervalMs / 1000)} s from now on.`;
  if (event.outcome === 'unreachable') return `${event.message ?? 'The server could not be reached'}; trying again in ${seconds} s.`;
  return undefined;
}

const REJECTION_TEXT: Record<RejectionReason, string> = {
  method: 'wrong HTTP method',
  path: 'wrong path',
  host: 'wrong Host header',
  state_missing: 'no state',
  state_repeated: 'more than one state',
  state_mismatch: 'state does not match this login',
  already_used: 'this login already received its callback',
};

/**
 * The lines a person reads for one sign-in event, as the CLI prints them on a plain (non-terminal) stderr;
 * `providerName` is what they sign in to, `now` the clock in ms. Events that tell the person nothing
 * (`browser_opened`, `exchanging_code`, a pending poll) give no line.
 */
export function loginEventLines(event: LoginEvent, providerName: string, now: number): string[] {
  switch (event.type) {
    case 'login_method':
      return methodLines(providerName, event);
    case 'authorization_url':
      return [`To sign in to ${providerName}, open this URL in a browser:`, event.url];
    case 'browser_opened':
    case 'exchanging_code':
      return [];
    case 'browser_failed':
      return [`Could not open a browser (${event.message}). Open the URL above yourself.`];
    case 'waiting':
      return [`Waiting up to ${Math.round((event.deadline - now) / 1000)} s for the sign-in to finish…`];
    case 'callback_rejected':
      return [`Turned away a request to the sign-in listener (${REJECTION_TEXT[event.reason]}); still waiting.`];
    case 'port_busy':
      return [`Port ${event.port} is in use${event.holder ? ` by ${event.holder}` : ''}; using ${event.nextPort} instead.`];
    case 'port_forwarding':
      return portForwardingLines(event);
    case 'device_code':
      return deviceCodeLines(event, now);
    case 'device_poll': {
      const line = devicePollLine(event, now);
      return line === undefined ? [] : [line];
    }
    case 'paste_requested':
      return pasteRequestLines(event);
    case 'paste_rejected':
      return [pasteRejectedLine(event)];
  }
}

/**
 * An event listener that writes a sign-in's instructions with `write`, a line at a time. When the
 * application's own `openBrowser` reaches the person (`browserReachesPerson`), a browser sign-in is its to
 * show and nothing is written, unless that browser fails: then the URL and what to do with it are.
 */
export function instructionWriter(
  write: (text: string) => void,
  providerName: string,
  options: { browserReachesPerson: boolean; now: () => number },
): (event: LoginEvent) => void {
  let muted = false;
  let url: LoginEvent | undefined;
  const say = (event: LoginEvent): void => {
    for (const line of loginEventLines(event, providerName, options.now())) write(`${line}\n`);
  };
  return (event) => {
    if (event.type === 'login_method') muted = options.browserReachesPerson && event.method === 'browser';
    if (event.type === 'authorization_url') url = event;
    if (muted && event.type === 'browser_failed') {
      muted = false;
      if (url) say(url);
    }
    if (!muted) say(event);
  };
}
