import type { LoginMethod } from './login-environment.js';
import type { RejectionReason } from './loopback.js';
import type { PasteRejection } from './paste.js';

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
  | { type: 'exchanging_code' }
  /** A fixed callback port was busy (held by `holder` where that can be told); trying `nextPort`. */
  | { type: 'port_busy'; port: number; holder: string | undefined; nextPort: number }
  /** The first event: how this sign-in will go, and why (`reason` is a short clause for the person). */
  | { type: 'login_method'; method: LoginMethod; reason: string }
  /** Over SSH with a fixed callback port: run `command` on your own computer and your browser there reaches the callback. */
  | { type: 'port_forwarding'; port: number; command: string }
  /** Device sign-in: on any device, open `verificationUri` and enter `userCode` (server text, already stripped of control characters). */
  | { type: 'device_code'; verificationUri: string; userCode: string; verificationUriComplete: string | undefined; expiresAt: number }
  /** A device-sign-in poll was answered, or could not reach the server; the next poll is due at `nextPollAt`. */
  | { type: 'device_poll'; outcome: 'pending' | 'slow_down' | 'unreachable'; intervalMs: number; nextPollAt: number; message?: string }
  /** Pasted input is read now: the full URL the browser ended on (it starts with `redirectUri`), racing the callback. */
  | { type: 'paste_requested'; redirectUri: string }
  /** A pasted text was turned away; the login keeps waiting for another paste or the callback. */
  | { type: 'paste_rejected'; reason: PasteRejection };
