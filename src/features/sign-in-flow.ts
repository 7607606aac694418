// One sign-in as a state machine that any front end renders: the Ink component (src/ink/), the stdio JSON-RPC
// server (`loginkit serve --stdio`) and an app's own screens. It drives the public `login` and
// `loginWithApiKey` through their options (`onEvent`, `pasted`, `signal`) and adds no protocol of its own.
// Light on purpose (no runtime import but the paste box and the error class): the client makes one synchronously.
import { type ErrorCode, LoginkitError } from '../errors.js';
import type { AccountInfo } from '../oauth/tokens.js';
import type { LoginEvent } from '../sign-in/events.js';
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

/** What the machine is busy with while nothing is asked of the person. */
export type SignInActivity = 'loading' | 'starting' | 'exchanging_code' | 'verifying_key';

/**
 * Where a sign-in stands. No state carries a secret: the authorization URL holds only the PKCE challenge
 * and the state, and an API key appears only masked, in `result`.
 */
export type SignInState =
  | { step: 'choosing_provider'; providers: readonly SignInProvider[] }
  | { step: 'choosing_method'; provider: SignInProvider; methods: readonly SignInMethod[] }
  | { step: 'checking'; provider: SignInProvider | undefined; activity: SignInActivity }
  /**
   * Waiting for the person in a browser. `opened`: undefined until known, false when the browser could not be
   * opened (the person opens `url` themselves). `pasteAccepted`: the address the browser ended on may be pasted.
   */
  | {
      step: 'browser';
      provider: SignInProvider;
      url: string;
      opened: boolean | undefined;
      pasteAccepted: boolean;
      /** Over SSH with a fixed callback port: the command to run on the person's own computer. */
      portForwarding: string | undefined;
      /** ms since the epoch. */
      deadline: number | undefined;
      pasteRejected: PasteRejection | undefined;
    }
  | {
      step: 'device';
      provider: SignInProvider;
      verificationUri: string;
      /** The address with the code in it (for a QR code), when the server gives one. */
      verificationUriComplete: string | undefined;
      userCode: string;
      /** ms since the epoch. */
      expiresAt: number;
    }
  /** The person opens `url`, signs in, and pastes back the address the browser ended on. */
  | { step: 'paste'; provider: SignInProvider; url: string; deadline: number | undefined; pasteRejected: PasteRejection | undefined }
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
  /** The method to use; without it the person chooses when the provider offers more than one. */
  method?: SignInMethod;
  /** Profile to store the credential under (default: the active one). */
  profile?: string;
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
  let state: SignInState = { step: 'checking', provider: undefined, activity: 'loading' };
  let provider: SignInProvider | undefined;
  let method: SignInMethod | undefined;
  let attempt: { abort: AbortController; paste: (text: string) => void } | undefined;

  const set = (next: SignInState): void => {
    state = next;
    for (const listener of [...listeners]) listener(next);
    if (next.step === 'done' || next.step === 'failed' || next.step === 'cancelled') for (const end of endings.splice(0)) end(next);
  };
  const fail = (error: unknown): void => set({ step: 'failed', provider, ...describeFailure(error) });

  const offer = (chosen: SignInProvider): void => {
    provider = chosen;
    const methods = chosen.methods;
    if (options.method !== undefined || methods.length === 1) {
      const only = options.method ?? (methods[0] as SignInMethod);
      if (!methods.includes(only)) {
        set({
          step: 'failed',
          provider,
          code: 'usage',
          reason: `${chosen.displayName} does not sign in with ${only === 'api_key' ? 'an API key' : `method "${only}"`}.`,
          next: `Use one of: ${methods.join(', ')}`,
        });
        return;
      }
      begin(only);
      return;
    }
    set({ step: 'choosing_method', provider: chosen, methods });
  };

  const begin = (chosen: SignInMethod): void => {
    method = chosen;
    const current = provider as SignInProvider;
    if (chosen === 'api_key') {
      set({ step: 'api_key', provider: current });
      return;
    }
    runLogin(current, chosen);
  };

  const runLogin = (current: SignInProvider, chosen: Exclude<SignInMethod, 'api_key'>): void => {
    const abort = new AbortController();
    const box = createPasteBox();
    attempt = { abort, paste: (text) => box.submit(text) };
    set({ step: 'checking', provider: current, activity: 'starting' });
    const onEvent = (event: LoginEvent): void => {
      if (attempt?.abort !== abort || abort.signal.aborted) return;
      const next = afterEvent(state, current, chosen, event);
      if (next !== state) set(next);
    };
    kit
      .login(current.id, {
        method: chosen,
        pasted: box.lines,
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
      set({ step: 'checking', provider: current, activity: 'verifying_key' });
      kit.loginWithApiKey(current.id, key, options.profile !== undefined ? { profile: options.profile } : {}).then(
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
    settled: () =>
      state.step === 'done' || state.step === 'failed' || state.step === 'cancelled'
        ? Promise.resolve(state)
        : new Promise((resolve) => endings.push(resolve)),
  };

  const load = (): void => {
    set({ step: 'checking', provider: undefined, activity: 'loading' });
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

/** The state after one event of the running login (the same state when the event changes nothing shown). */
function afterEvent(state: SignInState, provider: SignInProvider, method: SignInMethod, event: LoginEvent): SignInState {
  switch (event.type) {
    case 'authorization_url':
      if (method === 'paste') return { step: 'paste', provider, url: event.url, deadline: undefined, pasteRejected: undefined };
      return {
        step: 'browser',
        provider,
        url: event.url,
        opened: undefined,
        pasteAccepted: false,
        portForwarding: state.step === 'browser' ? state.portForwarding : undefined,
        deadline: undefined,
        pasteRejected: undefined,
      };
    case 'port_forwarding':
      return state.step === 'browser' ? { ...state, portForwarding: event.command } : state;
    case 'browser_opened':
      return state.step === 'browser' ? { ...state, opened: true } : state;
    case 'browser_failed':
      return state.step === 'browser' ? { ...state, opened: false, pasteAccepted: true } : state;
    case 'paste_requested':
      return state.step === 'browser' ? { ...state, pasteAccepted: true } : state;
    case 'paste_rejected':
      return state.step === 'browser' || state.step === 'paste' ? { ...state, pasteRejected: event.reason } : state;
    case 'waiting':
      return state.step === 'browser' || state.step === 'paste' ? { ...state, deadline: event.deadline } : state;
    case 'device_code':
      return {
        step: 'device',
        provider,
        verificationUri: event.verificationUri,
        verificationUriComplete: event.verificationUriComplete,
        userCode: event.userCode,
        expiresAt: event.expiresAt,
      };
    case 'exchanging_code':
      return { step: 'checking', provider, activity: 'exchanging_code' };
    default:
      return state;
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
