// The Ink component: one screen per state of the sign-in state machine (kit.startSignIn), and the keys that
// drive it. Written with React.createElement rather than JSX so that the library's build (tsc), the tests'
// compile (esbuild over .ts files) and tsx need no JSX settings for one file.
import { Box, Text, useInput, useStdin } from 'ink';
import React from 'react';
import { renderUnicodeCompact } from 'uqr';
import {
  type LoginResult,
  type Loginkit,
  PASTE_REJECTION_TEXT,
  type SignIn as SignInMachine,
  type SignInMethod,
  type SignInState,
  cancellable,
  createLoginkit,
  loginEventLines,
} from '../index.js';

const h = React.createElement;

/** Props of {@link SignIn}. */
export interface SignInProps {
  /** The client to sign in with (default: `createLoginkit()`, settings from the environment). */
  kit?: Loginkit;
  /** The provider to sign in to; without it the person picks one. */
  provider?: string;
  /** The providers the picker offers (default: every provider known to the home). */
  providers?: readonly string[];
  /** The method to use; without it the person chooses when the provider offers more than one. */
  method?: SignInMethod;
  /** Profile to store the credential under (default: the active one). */
  profile?: string;
  /** Called once the sign-in is done, with what was stored (no secret). */
  onDone?: (result: LoginResult) => void;
  /** Called when the person cancels (Esc), or leaves after a failure. */
  onCancel?: () => void;
}

const METHOD_LABELS: Record<SignInMethod, string> = {
  browser: 'In the browser',
  device: 'With a code entered on another device',
  paste: 'Open the address anywhere, then paste back where the browser ended',
  api_key: 'With an API key',
};

const ACTIVITY_LABELS: Record<Extract<SignInState, { step: 'checking' }>['activity'], string> = {
  loading: 'Loading…',
  starting: 'Contacting the sign-in server…',
  exchanging_code: 'Signing in…',
  verifying_key: 'Checking the key with the provider…',
};

/**
 * Sign-in for an Ink app: `<SignIn provider="openai" onDone={(result) => …} />`. Arrows and Enter choose,
 * the address or key is typed or pasted and sent with Enter (a key is shown masked), Esc cancels, `r` retries
 * after a failure.
 */
export function SignIn(props: SignInProps): React.ReactElement {
  const [machine] = React.useState<SignInMachine>(() =>
    (props.kit ?? createLoginkit()).startSignIn(props.provider, {
      ...(props.providers !== undefined ? { providers: props.providers } : {}),
      ...(props.method !== undefined ? { method: props.method } : {}),
      ...(props.profile !== undefined ? { profile: props.profile } : {}),
    }),
  );
  const state = React.useSyncExternalStore(machine.subscribe, machine.getState);
  // What the person has selected or typed, for the field of the current state only (`field`). Kept in a ref
  // that the key handler reads, so that keys arriving before React re-registers the handler see the latest.
  const input = React.useRef({ field: '', selected: 0, typed: '' });
  const [, redraw] = React.useReducer((n: number) => n + 1, 0);
  const field = fieldOf(state);
  if (input.current.field !== field) input.current = { field, selected: 0, typed: '' };
  const { onDone, onCancel } = props;

  React.useEffect(() => () => machine.cancel(), [machine]);
  React.useEffect(() => {
    if (state.step === 'done') onDone?.(state.result);
    if (state.step === 'cancelled') onCancel?.();
  }, [state.step]);

  const choices = choicesOf(state);
  // Without a terminal to read keys from, the screens still show (and `method` or a browser finishes the sign-in).
  const { isRawModeSupported } = useStdin();
  useInput(
    (text, key) => {
      const current = machine.getState();
      const ui = input.current.field === fieldOf(current) ? input.current : { field: fieldOf(current), selected: 0, typed: '' };
      const options = choicesOf(current);
      const typing = current.step === 'api_key' || current.step === 'paste' || (current.step === 'browser' && current.pasteAccepted);
      const update = (change: Partial<typeof ui>): void => {
        input.current = { ...ui, ...change };
        redraw();
      };
      if (key.escape) {
        if (current.step === 'failed') onCancel?.();
        else machine.cancel();
      } else if (options.length > 0) {
        if (key.upArrow) update({ selected: (ui.selected + options.length - 1) % options.length });
        else if (key.downArrow) update({ selected: (ui.selected + 1) % options.length });
        else if (key.return) choose(machine, current, options[ui.selected]?.value);
      } else if (current.step === 'failed' && text === 'r') {
        machine.retry();
      } else if (!typing) {
        return;
      } else if (key.return) {
        submit(machine, current, ui.typed);
      } else if (key.backspace || key.delete) {
        update({ typed: ui.typed.slice(0, -1) });
      } else {
        // A paste arrives as one chunk, possibly ending in Enter.
        const [line = '', ...rest] = text.split(/\r\n|\r|\n/);
        if (rest.length > 0) submit(machine, current, ui.typed + line);
        else update({ typed: ui.typed + line });
      }
    },
    { isActive: isRawModeSupported === true },
  );

  return h(Box, { flexDirection: 'column' }, ...screen(state, choices, input.current.selected, input.current.typed));
}

/** Identifies the input field of a state: a new field (or a paste turned away) starts empty. */
function fieldOf(state: SignInState): string {
  if (state.step === 'browser') return `browser:${state.url}:${state.pasteAccepted}:${state.pasteRejected ?? ''}`;
  if (state.step === 'paste') return `paste:${state.url}:${state.pasteRejected ?? ''}`;
  return state.step;
}

interface Choice {
  value: string;
  label: string;
}

function choicesOf(state: SignInState): Choice[] {
  if (state.step === 'choosing_provider') return state.providers.map((p) => ({ value: p.id, label: `${p.displayName} (${p.id})` }));
  if (state.step === 'choosing_method') return state.methods.map((m) => ({ value: m, label: METHOD_LABELS[m] }));
  return [];
}

function choose(machine: SignInMachine, state: SignInState, value: string | undefined): void {
  if (value === undefined) return;
  if (state.step === 'choosing_provider') machine.chooseProvider(value);
  else if (state.step === 'choosing_method') machine.chooseMethod(value as SignInMethod);
}

function submit(machine: SignInMachine, state: SignInState, text: string): void {
  if (text.trim() === '') return;
  if (state.step === 'api_key') machine.submitKey(text);
  else machine.paste(text.trim());
}

/** The lines of the screen for a state. */
function screen(state: SignInState, choices: readonly Choice[], selected: number, typed: string): React.ReactNode[] {
  const name = 'provider' in state && state.provider ? state.provider.displayName : '';
  const esc = h(Text, { key: 'esc', dimColor: true }, 'Esc to cancel');
  switch (state.step) {
    case 'choosing_provider':
    case 'choosing_method':
      return [
        h(Text, { key: 'title', bold: true }, state.step === 'choosing_provider' ? 'Sign in to:' : `Sign in to ${name}:`),
        ...(state.step === 'choosing_method' && state.provider.policyNote
          ? [h(Text, { key: 'note', color: 'yellow' }, state.provider.policyNote)]
          : []),
        ...choices.map((choice, i) =>
          h(Text, { key: choice.value, ...(i === selected ? { color: 'cyan' } : {}) }, `${i === selected ? '❯' : ' '} ${choice.label}`),
        ),
        h(Text, { key: 'keys', dimColor: true }, '↑↓ to choose, Enter to continue, Esc to cancel'),
      ];
    case 'checking':
      return [
        h(Text, { key: 'activity' }, ACTIVITY_LABELS[state.activity]),
        ...noticeLine(state, name),
        ...(cancellable(state) ? [esc] : []),
      ];
    case 'browser':
      return [
        h(
          Text,
          { key: 'title', bold: true },
          state.opened === false
            ? `Could not open a browser. Open this address to sign in to ${name}:`
            : `Sign in to ${name} in your browser${state.opened ? ' (opened)' : ''}. If it did not open, copy this address:`,
        ),
        h(Text, { key: 'url', color: 'cyan' }, state.url),
        ...(state.portForwarding ? [h(Text, { key: 'ssh' }, `On your own computer, run first: ${state.portForwarding.command}`)] : []),
        ...noticeLine(state, name),
        ...(state.pasteAccepted ? pasteField(state.pasteRejected, typed) : []),
        esc,
      ];
    case 'paste':
      return [
        h(Text, { key: 'title', bold: true }, `Open this address in any browser and sign in to ${name}:`),
        h(Text, { key: 'url', color: 'cyan' }, state.url),
        ...(state.portForwarding ? [h(Text, { key: 'ssh' }, `On your own computer, run first: ${state.portForwarding.command}`)] : []),
        ...noticeLine(state, name),
        ...pasteField(state.pasteRejected, typed),
        esc,
      ];
    case 'device':
      return [
        h(Text, { key: 'title', bold: true }, `Sign in to ${name} on any device: open`),
        h(Text, { key: 'uri', color: 'cyan' }, state.verificationUri),
        h(Text, { key: 'code' }, 'and enter the code ', h(Text, { bold: true, color: 'green' }, state.userCode)),
        h(Text, { key: 'qr' }, renderUnicodeCompact(state.verificationUriComplete ?? state.verificationUri, { border: 1, ecc: 'L' })),
        h(
          Text,
          { key: 'expiry', dimColor: true },
          `Or scan the code. It expires at ${new Date(state.expiresAt).toLocaleTimeString()}. Enter it only if you started this sign-in.`,
        ),
        ...noticeLine(state, name),
        esc,
      ];
    case 'api_key':
      return [
        h(Text, { key: 'title', bold: true }, `Enter your ${name} API key:`),
        ...(state.provider.envVars.length > 0
          ? [h(Text, { key: 'env', dimColor: true }, `(${state.provider.envVars.join(', ')} in the environment is used instead when set)`)]
          : []),
        h(Text, { key: 'field' }, `> ${'•'.repeat(typed.length)}`),
        h(Text, { key: 'keys', dimColor: true }, 'Enter to check and save it, Esc to cancel'),
      ];
    case 'done': {
      const who = state.account?.email ?? state.account?.name ?? state.result.key;
      return [h(Text, { key: 'done', color: 'green' }, `✓ Signed in to ${name}${who ? ` as ${who}` : ''}.`)];
    }
    case 'failed':
      return [
        h(Text, { key: 'reason', color: 'red' }, `✗ ${state.reason}`),
        ...(state.next ? [h(Text, { key: 'next' }, state.next)] : []),
        h(Text, { key: 'keys', dimColor: true }, 'r to try again, Esc to leave'),
      ];
    case 'cancelled':
      return [h(Text, { key: 'cancelled' }, 'Sign-in cancelled.')];
  }
}

/** The latest notice of a running sign-in (a busy port, a turned-away request, a slowed poll); a refused paste shows at the field. */
function noticeLine(state: SignInState, name: string): React.ReactNode[] {
  if (!('notice' in state) || !state.notice || state.notice.event.type === 'paste_rejected') return [];
  return [h(Text, { key: 'notice', color: 'yellow' }, loginEventLines(state.notice.event, name, Date.now()).join(' '))];
}

function pasteField(rejected: keyof typeof PASTE_REJECTION_TEXT | undefined, typed: string): React.ReactNode[] {
  return [
    ...(rejected ? [h(Text, { key: 'rejected', color: 'red' }, `Not accepted: ${PASTE_REJECTION_TEXT[rejected]}.`)] : []),
    h(Text, { key: 'paste' }, 'Paste the address the browser ended on, then Enter:'),
    h(Text, { key: 'field' }, `> ${typed}`),
  ];
}
