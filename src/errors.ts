/**
 * Stable error codes. Callers branch on `error.code`, never on the message.
 */
export type ErrorCode =
  | 'login_required'
  | 'callback_rejected'
  | 'timeout'
  | 'network'
  | 'provider_error'
  | 'configuration'
  | 'storage'
  | 'usage'
  | 'interrupted'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'unknown_provider'
  | 'response_too_large';

/** Base class of every error loginkit throws on purpose; `message` says what happened and what to do. */
export class LoginkitError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No usable credential: the person must sign in (again). The CLI exits 3. */
export class LoginRequiredError extends LoginkitError {
  /** The provider that needs a login. */
  readonly providerId: string;

  constructor(providerId: string, reason: string, options?: { cause?: unknown }, profile?: string) {
    const named = profile && profile !== 'default' ? ` --profile ${profile}` : '';
    super('login_required', `${reason}\nRun: loginkit login ${providerId}${named}`, options);
    this.providerId = providerId;
  }
}

/** The authorization server answered with an OAuth error (`error`, `error_description`). */
export class ProviderError extends LoginkitError {
  /** The OAuth `error` value, e.g. `access_denied`. */
  readonly error: string;
  /** The server's `error_description`, stripped of control characters. */
  readonly errorDescription: string | undefined;
  /** HTTP status of the response, when there was one. */
  readonly status: number | undefined;
  /** The server's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    message: string,
    details: { error: string; errorDescription?: string | undefined; status?: number | undefined; retryAfterSeconds?: number | undefined },
    options?: { cause?: unknown },
  ) {
    super('provider_error', message, options);
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.status = details.status;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}

/** A request could not be completed: connection refused, DNS, TLS, or a timeout (`code: 'timeout'`). */
export class NetworkError extends LoginkitError {
  /** The host the request was for. */
  readonly host: string;
  /** Whether trying again may help (false for TLS trust failures, which need a setting changed). */
  readonly transient: boolean;

  constructor(code: 'network' | 'timeout', host: string, message: string, options?: { cause?: unknown; transient?: boolean }) {
    super(code, message, options);
    this.host = host;
    this.transient = options?.transient ?? true;
  }
}

/** Nobody finished an interactive sign-in in time (`code: 'timeout'`). The CLI names its `--timeout` flag instead. */
export class SignInTimeoutError extends LoginkitError {
  /** How long the sign-in waited, in ms. */
  readonly waitedMs: number;

  constructor(waitedMs: number) {
    super(
      'timeout',
      `Nobody completed the sign-in within ${Math.round(waitedMs / 1000)} s.\nSign in again; for more time, set the sign-in's \`timeoutMs\` option.`,
    );
    this.waitedMs = waitedMs;
  }
}

/** No provider has this id (neither built in, nor configured, nor holding a stored credential). The CLI exits 2. */
export class UnknownProviderError extends LoginkitError {
  /** The id that was asked for (already checked to be printable). */
  readonly providerId: string;
  /** The closest known id, when one is close enough to be a typo. */
  readonly suggestion: string | undefined;

  constructor(providerId: string, known: readonly string[], suggestion: string | undefined) {
    const hint = suggestion ? `Did you mean "${suggestion}"? ` : '';
    super(
      'unknown_provider',
      `Unknown provider "${providerId}". ${hint}Known: ${known.join(', ')}.\nAdd your own: loginkit providers add <id> --issuer URL --client-id ID`,
    );
    this.providerId = providerId;
    this.suggestion = suggestion;
  }
}

/**
 * A server's answer was larger than loginkit reads from an authorization server or a key check; reading
 * stopped at the cap. Not transient: asking again brings the same answer.
 */
export class ResponseTooLargeError extends LoginkitError {
  /** The host that sent the answer. */
  readonly host: string;
  /** The cap that was exceeded, in bytes. */
  readonly limitBytes: number;

  constructor(host: string, limitBytes: number) {
    super(
      'response_too_large',
      `${host} sent an answer larger than ${Math.round(limitBytes / 1024)} KiB; loginkit stopped reading it.\nNo authorization server answers like that: check the provider's issuer and endpoints.`,
    );
    this.host = host;
    this.limitBytes = limitBytes;
  }
}

/** Configuration is invalid: names the file, the provider and the field where known. */
export class ConfigError extends LoginkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('configuration', message, options);
  }
}

/** The credential store cannot be read or written safely; names the file. */
export class StorageError extends LoginkitError {
  /** The file or folder concerned. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('storage', message, options);
    this.path = path;
  }
}

/**
 * `error` and its causes, outermost first, at most `depth` of them: each `cause`, or the first of an
 * AggregateError's `errors` (how Node reports a connection that failed on every address).
 */
export function causeChain(error: unknown, depth = 6): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && current !== null && chain.length < depth;) {
    chain.push(current);
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** Throws the signal's reason as an `interrupted` error when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interrupted(signal);
}

/** The error to surface when an AbortSignal fires: keeps a LoginkitError reason, wraps anything else. */
export function interrupted(signal: AbortSignal): LoginkitError {
  const reason: unknown = signal.reason;
  if (reason instanceof LoginkitError) return reason;
  return new LoginkitError('interrupted', 'Interrupted.', { cause: reason });
}

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Removes control and bidi characters from server-supplied text before it reaches a terminal. */
export function sanitizeServerText(text: string, maxLength = 300): string {
  const clean = text.replace(CONTROL_CHARACTERS, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > maxLength ? `${clean.slice(0, maxLength)}…` : clean;
}
