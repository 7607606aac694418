// One sign-in as a state machine that any front end renders: the Ink component (src/ink/), the stdio JSON-RPC
// server (`loginkit serve --stdio`) and an app's own screens. It drives the public `login` and
// `loginWithApiKey` through their options (`onEvent`, `pasted`, `signal`) and adds no protocol of its own.
// Light on purpose (no runtime import but the paste box and the error class): the client makes one synchronously.
import { type ErrorCode, LoginkitError } from '../errors.js';
import type { AccountInfo } from '../oauth/tokens.js';
import type { LoginEvent } from '../sign-in/events.js';
import type { LoginMethod } from '../sign-in/login-environment.js';
import { createPasteBox } from '../sign-in/paste-box.js';
import type { PasteRejection } from '../sign-in/paste.js';
import type { LoginOptions, LoginResult } from './login.js';
import type { ProviderSummary } from './providers.js';

/** How a person can sign in to a provider: a browser, a code on another device, pasting the address back, or an API key. */
export type SignInMethod = 'browser' | 'device' | 'paste' | 'api_key';

/** A provider as the picker shows it. */
export interface SignInProvider {
  id: string;
  displayName: string;
  /** The methods offered, the usual one first. */
  methods: readonly SignInMethod[];
  /** Something the person must know before choosing (e.g. a provider's terms), or null. */
  policyNote: string | null;
  /** Environment variables that hold its API key (a key set there is used instead of a stored one). */
  envVars: readonly string[];
}

/** How the running sign-in goes: the way the login took (under `auto`, its pick for where the person is) and why. */
export interface SignInRoute {
  method: LoginMethod;
  /** A short clause for the person ('as requested', 'this is an SSH session, …'); '' when there is nothing to say. */
  reason: string;
}

/**
 * The latest thing a running sign-in has to tell the person that changes no step: a busy port, a request the
 * listener turned away, a pasted text that was not taken, a device poll slowed down or unanswered. `seq` counts
 * them within one attempt (1, 2, …) so that a front end writing a log writes each once; `event` is the sign-in
 * event itself.
 */
export interface SignInNotice {
  seq: number;
  event: Extract<LoginEvent, { type: 'port_busy' | 'callback_rejected' | 'paste_rejected' | 'device_poll' }>;
}

/** What the machine is busy with while nothing is asked of the person. */
export type SignInActivity = 'loading' | 'starting' | 'exchanging_code' | 'verifying_key';

/**
 * Where a sign-in stands. No state carries a secret: the authorization URL holds only the PKCE challenge
 * and the state, and an API key appears only masked, in `result`.
 */
export type SignInState =
  | { step: 'choosing_provider'; providers: readonly SignInProvider[] }
  | { step: 'choosing_method'; provider: SignInProvider; methods: readonly SignInMethod[] }
  /** `route` and `notice` are those of the running sign-in (undefined before the login started, or for a key). */
  | {
      step: 'checking';
      provider: SignInProvider | undefined;
      activity: SignInActivity;
      route: SignInRoute | undefined;
      notice: SignInNotice | undefined;
    }
  /**
   * Waiting for the person in a browser. `opened`: undefined until known, false when the browser could not be
   * opened (the person opens `url` themselves). `pasteAccepted`: the address the browser ended on may be pasted.
   */
  | {
      step: 'browser';
      provider: SignInProvider;
      route: SignInRoute | undefined;
      url: string;
      /** Where the browser ends: a pasted address must start with it. */
      redirectUri: string;
      opened: boolean | undefined;
      /** Why the browser could not be opened, when `opened` is false. */
      browserError: string | undefined;
      pasteAccepted: boolean;
      /** Over SSH with a fixed callback port: the command to run on the person's own computer to forward `port`. */
      portForwarding: { port: number; command: string } | undefined;
      /** ms since the epoch. */
      deadline: number | undefined;
      pasteRejected: PasteRejection | undefined;
      notice: SignInNotice | undefined;
    }
  | {
      step: 'device';
      provider: SignInProvider;
      route: SignInRoute | undefined;
      verificationUri: string;
      /** The address with the code in it (for a QR code), when the server gives one. */
      verificationUriComplete: string | undefined;
      userCode: string;
      /** ms since the epoch. */
      expiresAt: number;
      /** When the sign-in stops waiting (ms since the epoch): `expiresAt`, or sooner with a timeout. */
      deadline: number | undefined;
      notice: SignInNotice | undefined;
    }
  /**
   * The person opens `url`, signs in, and pastes back the address the browser ended on (it starts with
   * `redirectUri`); `pasteAccepted` once the login reads pastes.
   */
  | {
      step: 'paste';
      provider: SignInProvider;
      route: SignInRoute | undefined;
      url: string;
      redirectUri: string;
      pasteAccepted: boolean;
      /** As in the state `browser`: over SSH, the browser on the person's own computer reaches the callback. */
      portForwarding: { port: number; command: string } | undefined;
      deadline: number | undefined;
      pasteRejected: PasteRejection | undefined;
      notice: SignInNotice | undefined;
    }
  | { step: 'api_key'; provider: SignInProvider }
  | { step: 'done'; provider: SignInProvider; result: LoginResult; account: AccountInfo | undefined }
  /** `reason` is one line; `next` says what to do (a command or setting), '' when retrying is all there is. */
  | { step: 'failed'; provider: SignInProvider | undefined; code: ErrorCode | 'unexpected'; reason: string; next: string }
  | { step: 'cancelled'; provider: SignInProvider | undefined };

/** The part of the client a sign-in drives (a `Loginkit` is one). */
export interface SignInDriver {
  providers(): Promise<ProviderSummary[]>;
  provider(id: string): Promise<ProviderSummary>;
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  loginWithApiKey(provider: string, key: string, options?: { profile?: string; verify?: boolean }): Promise<LoginResult>;
}

/** Options of {@link createSignIn}. */
export interface SignInFlowOptions {
  /** The provider to sign in to; without it the person picks one. */
  provider?: string;
  /** The providers the picker offers (default: every provider known to the home). */
  providers?: readonly string[];
  /**
   * The method to use; without it the person chooses when the provider offers more than one. `auto`: sign in
   * through OAuth the way that suits where the person is (see {@link PersonOptions.method}); `route` says which.
   */
  method?: SignInMethod | 'auto';
  /**
   * Where pasted addresses come from. Default: what {@link SignIn.paste} is given. A front end that reads them
   * itself (the CLI, from a terminal's stdin) passes its own source, which the login reads only once it asks for
   * a paste, and `paste()` is then ignored; `null` where nothing can be pasted (the login asks for no paste).
   */
  pasted?: AsyncIterable<string> | null;
  /** Profile to store the credential under (default: the active one). */
  profile?: string;
  /** Ask the provider whether an API key works before storing it (default true). */
  verify?: boolean;
  /** Do not open a browser, only show the URL. */
  noBrowser?: boolean;
  /** How long to wait for the person, in ms (see {@link PersonOptions.timeoutMs}). */
  timeoutMs?: number;
  /** Cancels the sign-in, as {@link SignIn.cancel} does. */
  signal?: AbortSignal;
}

/** One sign-in: its state, and the person's inputs. Inputs that do not fit the current state are ignored. */
export interface SignIn {
  getState(): SignInState;
  /** Calls `listener` with every new state; returns the function that stops it. */
  subscribe(listener: (state: SignInState) => void): () => void;
  /** Picks a provider (state `choosing_provider`). */
  chooseProvider(id: string): void;
  /** Picks how to sign in (state `choosing_method`). */
  chooseMethod(method: SignInMethod): void;
  /** Hands over the address the browser ended on (states `browser` and `paste`). */
  paste(text: string): void;
  /** Hands over an API key (state `api_key`); it is checked with the provider, then stored. */
  submitKey(key: string): void;
  /**
   * Stops the sign-in: any state but `done`, `failed` and `cancelled`, and but the exchange of a code or the
   * check of a key (see {@link cancellable}).
   */
  cancel(): void;
  /** Starts over after a failure: the method choice again when there is one, else the same method. */
  retry(): void;
  /** The error behind the state `failed` (undefined in any other), for a front end with its own error report. */
  failure(): unknown;
  /** Resolves with the first state that ends the sign-in: `done`, `failed` or `cancelled`. */
  settled(): Promise<Extract<SignInState, { step: 'done' | 'failed' | 'cancelled' }>>;
}

type Ending = Extract<SignInState, { step: 'done' | 'failed' | 'cancelled' }>;

/** The methods a provider summary offers, the usual one first. */
export function methodsOf(provider: ProviderSummary): SignInMethod[] {
  return [
    ...(provider.methods.includes('oauth') ? (['browser', 'device', 'paste'] as const) : []),
    ...(provider.methods.includes('api_key') ? (['api_key'] as const) : []),
  ];
}

/** Starts a sign-in driven by `kit`; it begins at once (loading the providers, or the one named). */
export function createSignIn(kit: SignInDriver, options: SignInFlowOptions = {}): SignIn {
  const listeners = new Set<(state: SignInState) => void>();
  const endings: Array<(state: Ending) => void> = [];
  let state: SignInState = idle(undefined, 'loading');
  let provider: SignInProvider | undefined;
  let method: SignInMethod | 'auto' | undefined;
  let failure: unknown;
  let attempt: { abort: AbortController; paste: (text: string) => void } | undefined;

  const set = (next: SignInState): void => {
    state = next;
    if (next.step !== 'failed') failure = undefined;
    for (const listener of [...listeners]) listener(next);
    if (next.step === 'done' || next.step === 'failed' || next.step === 'cancelled') for (const end of endings.splice(0)) end(next);
  };
  const fail = (error: unknown): void => {
    set({ step: 'failed', provider, ...describeFailure(error) });
    failure = error;
  };

  const offer = (chosen: SignInProvider): void => {
    provider = chosen;
    const methods = chosen.methods;
    if (options.method !== undefined || methods.length === 1) {
      // A method the provider does not offer is refused by login() or loginWithApiKey() themselves, with the way
      // to sign in that it does offer (as the CLI has always said it).
      begin(options.method ?? (methods[0] as SignInMethod));
      return;
    }
    set({ step: 'choosing_method', provider: chosen, methods });
  };

  const begin = (chosen: SignInMethod | 'auto'): void => {
    method = chosen;
    const current = provider as SignInProvider;
    if (chosen === 'api_key') {
      set({ step: 'api_key', provider: current });
      return;
    }
    runLogin(current, chosen);
  };

  const runLogin = (current: SignInProvider, chosen: Exclude<SignInMethod, 'api_key'> | 'auto'): void => {
    const abort = new AbortController();
    const box = createPasteBox();
    const own = options.pasted !== undefined;
    attempt = { abort, paste: own ? () => undefined : (text) => box.submit(text) };
    set(idle(current, 'starting'));
    const onEvent = (event: LoginEvent): void => {
      if (attempt?.abort !== abort || abort.signal.aborted) return;
      const next = nextSignInState(state, event, current, chosen);
      if (next !== state) set(next);
    };
    const pasted = own ? (options.pasted ?? undefined) : box.lines;
    kit
      .login(current.id, {
        method: chosen,
        ...(pasted !== undefined ? { pasted } : {}),
        signal: abort.signal,
        onEvent,
        ...(options.profile !== undefined ? { profile: options.profile } : {}),
        ...(options.noBrowser !== undefined ? { noBrowser: options.noBrowser } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      })
      .then(
        (result) => {
          if (attempt?.abort === abort && !abort.signal.aborted) set({ step: 'done', provider: current, result, account: result.account });
        },
        (error: unknown) => {
          if (attempt?.abort === abort && !abort.signal.aborted) fail(error);
        },
      )
      .finally(() => box.end());
  };

  const signIn: SignIn = {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    chooseProvider(id) {
      if (state.step !== 'choosing_provider') return;
      const chosen = state.providers.find((p) => p.id === id);
      if (chosen) offer(chosen);
    },
    chooseMethod(chosen) {
      if (state.step === 'choosing_method' && state.methods.includes(chosen)) begin(chosen);
    },
    paste(text) {
      if (state.step === 'browser' || state.step === 'paste') attempt?.paste(text);
    },
    submitKey(key) {
      if (state.step !== 'api_key') return;
      const current = state.provider;
      const abort = new AbortController();
      attempt = { abort, paste: () => undefined };
      set(idle(current, 'verifying_key'));
      const keyOptions = {
        ...(options.profile !== undefined ? { profile: options.profile } : {}),
        ...(options.verify !== undefined ? { verify: options.verify } : {}),
      };
      kit.loginWithApiKey(current.id, key, keyOptions).then(
        (result) => {
          if (!abort.signal.aborted) set({ step: 'done', provider: current, result, account: undefined });
        },
        (error: unknown) => {
          if (!abort.signal.aborted) fail(error);
        },
      );
    },
    cancel() {
      if (!cancellable(state)) return;
      attempt?.abort.abort();
      attempt = undefined;
      set({ step: 'cancelled', provider });
    },
    retry() {
      if (state.step !== 'failed') return;
      if (provider === undefined) {
        load();
        return;
      }
      if (options.method === undefined && provider.methods.length > 1) {
        set({ step: 'choosing_method', provider, methods: provider.methods });
        return;
      }
      begin(method ?? (provider.methods[0] as SignInMethod));
    },
    failure: () => failure,
    settled: () =>
      state.step === 'done' || state.step === 'failed' || state.step === 'cancelled'
        ? Promise.resolve(state)
        : new Promise((resolve) => endings.push(resolve)),
  };

  const load = (): void => {
    set(idle(undefined, 'loading'));
    const loading =
      options.provider !== undefined
        ? kit.provider(options.provider).then((summary) => offer(toChoice(summary)))
        : kit.providers().then((all) => {
            const wanted = options.providers;
            const shown = wanted ? all.filter((p) => wanted.includes(p.id)) : all;
            set({ step: 'choosing_provider', providers: shown.map(toChoice) });
          });
    loading.catch(fail);
  };

  options.signal?.addEventListener('abort', () => signIn.cancel(), { once: true });
  if (options.signal?.aborted) set({ step: 'cancelled', provider: undefined });
  else load();
  return signIn;
}

/**
 * Whether {@link SignIn.cancel} can stop the sign-in in this state: not once a code is being exchanged or a key
 * checked, which may already have stored a credential (both end by themselves within the client's timeout).
 */
export function cancellable(state: SignInState): boolean {
  if (state.step === 'checking') return state.activity === 'loading' || state.activity === 'starting';
  return state.step !== 'done' && state.step !== 'failed' && state.step !== 'cancelled';
}

function toChoice(summary: ProviderSummary): SignInProvider {
  return {
    id: summary.id,
    displayName: summary.displayName,
    methods: methodsOf(summary),
    policyNote: summary.policyNote,
    envVars: summary.envVars,
  };
}

/** The state `checking` before a login started, or while a key is checked. */
function idle(provider: SignInProvider | undefined, activity: SignInActivity): SignInState {
  return { step: 'checking', provider, activity, route: undefined, notice: undefined };
}

/** The route and the latest notice of a running sign-in's state. */
function runningFacts(state: SignInState): { route: SignInRoute | undefined; notice: SignInNotice | undefined } {
  if (state.step === 'checking' || state.step === 'browser' || state.step === 'paste' || state.step === 'device') {
    return { route: state.route, notice: state.notice };
  }
  return { route: undefined, notice: undefined };
}

/**
 * The state one event of a running login leads to (the same state when the event changes nothing shown), for
 * a front end that runs a login itself with `onEvent` and shows it as this machine's states (the CLI's
 * `mcp login`). Start from `{ step: 'checking', provider, activity: 'starting', route: undefined, notice: undefined }`;
 * `method` is the one asked for (the login's `login_method` event says which `auto` took).
 */
export function nextSignInState(
  state: SignInState,
  event: LoginEvent,
  provider: SignInProvider,
  method: SignInMethod | 'auto' = 'auto',
): SignInState {
  const facts = runningFacts(state);
  const seq = (): number => (facts.notice?.seq ?? 0) + 1;
  switch (event.type) {
    case 'login_method':
      return state.step === 'checking' ? { ...state, route: { method: event.method, reason: event.reason } } : state;
    case 'authorization_url': {
      const common = {
        provider,
        ...facts,
        url: event.url,
        redirectUri: event.redirectUri,
        pasteAccepted: false,
        portForwarding: state.step === 'browser' || state.step === 'paste' ? state.portForwarding : undefined,
        deadline: undefined,
        pasteRejected: undefined,
      };
      if ((facts.route?.method ?? method) === 'paste') return { step: 'paste', ...common };
      return { step: 'browser', ...common, opened: undefined, browserError: undefined };
    }
    case 'port_forwarding':
      return state.step === 'browser' || state.step === 'paste'
        ? { ...state, portForwarding: { port: event.port, command: event.command } }
        : state;
    case 'browser_opened':
      return state.step === 'browser' ? { ...state, opened: true } : state;
    case 'browser_failed':
      return state.step === 'browser' ? { ...state, opened: false, browserError: event.message } : state;
    case 'paste_requested':
      return state.step === 'browser' || state.step === 'paste' ? { ...state, pasteAccepted: true } : state;
    case 'paste_rejected':
      return state.step === 'browser' || state.step === 'paste'
        ? { ...state, pasteRejected: event.reason, notice: { seq: seq(), event } }
        : state;
    case 'waiting':
      return state.step === 'browser' || state.step === 'paste' || state.step === 'device' ? { ...state, deadline: event.deadline } : state;
    case 'port_busy':
    case 'callback_rejected':
      return state.step === 'checking' || state.step === 'browser' || state.step === 'paste'
        ? { ...state, notice: { seq: seq(), event } }
        : state;
    case 'device_poll':
      // A pending poll tells the person nothing new.
      return state.step === 'device' && event.outcome !== 'pending' ? { ...state, notice: { seq: seq(), event } } : state;
    case 'device_code':
      return {
        step: 'device',
        provider,
        route: facts.route,
        verificationUri: event.verificationUri,
        verificationUriComplete: event.verificationUriComplete,
        userCode: event.userCode,
        expiresAt: event.expiresAt,
        deadline: undefined,
        notice: facts.notice,
      };
    case 'exchanging_code':
      return { step: 'checking', provider, activity: 'exchanging_code', ...facts };
  }
}

/** A failure as one line of what happened and what to do next (loginkit's messages put the fix on their last line). */
function describeFailure(error: unknown): { code: ErrorCode | 'unexpected'; reason: string; next: string } {
  const code = errorCode(error);
  const lines = (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return { code, reason: lines[0] ?? 'The sign-in failed.', next: lines.slice(1).join(' ') };
}

function errorCode(error: unknown): ErrorCode | 'unexpected' {
  return error instanceof LoginkitError ? error.code : 'unexpected';
}

/** What a paste rejection means, for the person. */
export const PASTE_REJECTION_TEXT: Readonly<Record<PasteRejection, string>> = {
  not_a_url: 'that is not the address the browser ended on',
  wrong_address: 'that address is not this sign-in’s callback (another host, port or path)',
  code_without_state: 'a code alone cannot be tied to this sign-in; paste the whole address',
  state_missing: 'that address has no state, so it cannot be tied to this sign-in',
  state_repeated: 'that address has more than one state',
  state_mismatch: 'that address belongs to another sign-in (its state does not match this one)',
};
