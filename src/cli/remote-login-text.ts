// What the CLI says during sign-ins that do not simply open a browser here: the chosen method, the device code,
// pasting, and SSH port forwarding. Every line is built from events whose server text is already sanitized.
import type { LoginEvent, PasteRejection } from '../index.js';

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

/** Loads a renderer of QR codes in Unicode half blocks for a terminal (light modules drawn, so they read on dark themes). */
export async function loadQrRenderer(): Promise<(url: string) => string[]> {
  const { renderUnicodeCompact } = await import('uqr');
  return (url) => renderUnicodeCompact(url, { border: 1, ecc: 'L' }).split('\n');
}
