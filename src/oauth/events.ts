import type { RejectionReason } from './loopback.js';

/**
 * Progress of a sign-in, for a CLI or TUI to render. None of them carries a secret: the authorization URL
 * holds only the public PKCE challenge and the state.
 */
export type LoginEvent =
  /** Show this URL to the person (it is also being opened in the browser when that is allowed). */
  | { type: 'authorization_url'; url: string; redirectUri: string }
  | { type: 'browser_opened' }
  /** The browser could not be opened; the person must open the URL themselves. */
  | { type: 'browser_failed'; message: string }
  /** Waiting for the person until `deadline` (ms since the epoch). */
  | { type: 'waiting'; deadline: number }
  /** A request reached the listener and was turned away; the login keeps waiting. */
  | { type: 'callback_rejected'; reason: RejectionReason }
  | { type: 'exchanging_code' };
