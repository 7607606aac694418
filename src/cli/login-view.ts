import { type LoginEvent, type SignInState, loginEventLines, nextSignInState } from '../index.js';
import { type Io, say } from './output.js';
import { loadQrRenderer } from './remote-login-text.js';

/** Something that shows a sign-in's progress and can be torn down. */
export interface LoginView {
  /** Shows what is new in `state`, the sign-in machine's next state (each state changes one thing). */
  render(state: SignInState): void;
  /** For a login run without the machine (`mcp login`): folds `event` into the machine's next state and renders it. */
  onEvent(event: LoginEvent): void;
  /** Stops any animation; `message` is the last word. */
  stop(message?: string): void;
}

/** A running sign-in's state: the steps that come from the login's events. */
type Running = Extract<SignInState, { step: 'checking' | 'browser' | 'paste' | 'device' }>;

/** Notices printed while the spinner may be running (paused around them); the others come before it or while pasting. */
const ABOVE_SPINNER = new Set(['callback_rejected', 'device_poll']);

/**
 * Renders a sign-in machine's states for a person, as a log: the URL always on a line of its own on stderr
 * (so it can be copied), then a spinner with the time left on a TTY, or plain lines otherwise. The lines are
 * the library's (`loginEventLines`), so the CLI and a library sign-in with no listener say the same.
 */
export async function createLoginView(io: Io, providerName: string): Promise<LoginView> {
  const tty = io.stderr.isTTY === true && io.env.CI === undefined;
  const spinner = tty ? await startSpinner(io) : undefined;
  const renderQr = tty ? await loadQrRenderer() : undefined;
  let ticker: NodeJS.Timeout | undefined;
  let deadline = 0;
  let waitingFor = 'you to finish in the browser';
  // While the person may paste into this terminal, nothing animates over what they type.
  let pasting = false;
  // What has been shown of the running sign-in.
  let shown: Running | undefined;
  let routeShown = false;
  let noticeSeq = 0;
  const sayAbove = (lines: readonly string[]): void => {
    if (lines.length === 0) return;
    if (!pasting) spinner?.pause();
    for (const line of lines) say(io, line);
    if (!pasting) spinner?.resume();
  };
  const sayAll = (lines: readonly string[]): void => {
    for (const line of lines) say(io, line);
  };
  const lines = (event: LoginEvent): string[] => loginEventLines(event, providerName, Date.now());

  const timeLeft = (): string => {
    const seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  };

  const startWaiting = (until: number): void => {
    deadline = until;
    if (spinner && !pasting) {
      spinner.start(`Waiting for ${waitingFor} (${timeLeft()} left, Ctrl-C to cancel)`);
      ticker = setInterval(() => spinner.update(`Waiting for ${waitingFor} (${timeLeft()} left, Ctrl-C to cancel)`), 1000);
      ticker.unref();
    } else if (pasting) {
      say(io, `(Waiting up to ${timeLeft()} for the address or the browser; Ctrl-C to cancel.)`);
    } else {
      sayAll(lines({ type: 'waiting', deadline: until }));
    }
  };

  const askToPaste = (redirectUri: string): void => {
    if (ticker) clearInterval(ticker);
    spinner?.pause();
    pasting = true;
    sayAll(lines({ type: 'paste_requested', redirectUri }));
  };

  const show = (state: Running): void => {
    if (state.route && !routeShown) {
      routeShown = true;
      sayAll(lines({ type: 'login_method', ...state.route }));
    }
    if (state.notice && state.notice.seq > noticeSeq) {
      noticeSeq = state.notice.seq;
      (ABOVE_SPINNER.has(state.notice.event.type) ? sayAbove : sayAll)(lines(state.notice.event));
    }
    switch (state.step) {
      case 'checking':
        if (state.activity === 'exchanging_code' && shown?.step !== 'checking') {
          if (ticker) clearInterval(ticker);
          spinner?.update('Finishing sign-in');
        }
        break;
      case 'browser':
      case 'paste': {
        const before = shown?.step === 'browser' || shown?.step === 'paste' ? shown : undefined;
        if (before?.url !== state.url) sayAll(lines({ type: 'authorization_url', url: state.url, redirectUri: state.redirectUri }));
        if (state.portForwarding && !before?.portForwarding) sayAbove(lines({ type: 'port_forwarding', ...state.portForwarding }));
        if (state.step === 'browser' && state.opened === false && (before?.step !== 'browser' || before.opened !== false)) {
          sayAbove(lines({ type: 'browser_failed', message: state.browserError ?? 'no reason given' }));
        }
        if (state.pasteAccepted && !before?.pasteAccepted) askToPaste(state.redirectUri);
        if (state.deadline !== undefined && before?.deadline !== state.deadline) startWaiting(state.deadline);
        break;
      }
      case 'device': {
        const before = shown?.step === 'device' ? shown : undefined;
        if (before?.userCode !== state.userCode) {
          waitingFor = 'you to enter the code';
          const { verificationUri, verificationUriComplete, userCode, expiresAt } = state;
          sayAll(lines({ type: 'device_code', verificationUri, verificationUriComplete, userCode, expiresAt }));
          for (const line of renderQr?.(verificationUriComplete ?? verificationUri) ?? []) say(io, line);
        }
        if (state.deadline !== undefined && before?.deadline !== state.deadline) startWaiting(state.deadline);
        break;
      }
    }
    shown = state;
  };

  const render = (state: SignInState): void => {
    if (state.step === 'checking' || state.step === 'browser' || state.step === 'paste' || state.step === 'device') show(state);
  };
  const provider = { id: providerName, displayName: providerName, methods: [], policyNote: null, envVars: [] };
  let folded: SignInState = { step: 'checking', provider, activity: 'starting', route: undefined, notice: undefined };

  return {
    render,
    onEvent(event) {
      const next = nextSignInState(folded, event, provider);
      if (next === folded) return;
      folded = next;
      render(next);
    },
    stop(message) {
      if (ticker) clearInterval(ticker);
      spinner?.stop(message);
    },
  };
}

interface Spinner {
  start(message: string): void;
  update(message: string): void;
  pause(): void;
  resume(): void;
  stop(message?: string): void;
}

/**
 * A one-line spinner on stderr. Not clack's: that one puts the terminal in raw mode while it spins, so Ctrl-C
 * becomes a keypress it answers with exit 0 (instead of SIGINT, cancellation and exit 130), and typed or
 * pasted input is swallowed.
 */
async function startSpinner(io: Io): Promise<Spinner> {
  const frames = ['◒', '◐', '◓', '◑'];
  let timer: NodeJS.Timeout | undefined;
  let text = '';
  let frame = 0;
  let started = false;
  const draw = (): void => {
    // One line only: a wrapped line could not be erased with \r.
    const width = (io.stderr as { columns?: number }).columns || 80; // 0 when the terminal does not say
    io.stderr.write(`\r\x1b[2K${frames[frame++ % frames.length]}  ${text.slice(0, Math.max(10, width - 4))}`);
  };
  const spin = (): void => {
    draw();
    timer = setInterval(draw, 120);
    timer.unref();
  };
  const halt = (): void => {
    if (timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
    io.stderr.write('\r\x1b[2K');
  };
  return {
    start(message) {
      text = message;
      started = true;
      halt();
      spin();
    },
    update(message) {
      text = message;
    },
    pause: halt,
    resume() {
      if (started && timer === undefined) spin();
    },
    stop(message) {
      halt();
      started = false;
      if (message) io.stderr.write(`◇  ${message}\n`);
    },
  };
}
