import { type LoginEvent, loginEventLines } from '../index.js';
import { type Io, say } from './output.js';
import { loadQrRenderer } from './remote-login-text.js';

/** Something that shows a sign-in's progress and can be torn down. */
export interface LoginView {
  onEvent(event: LoginEvent): void;
  /** Stops any animation; `message` is the last word. */
  stop(message?: string): void;
}

/**
 * Renders sign-in events for a person: the URL always on a line of its own on stderr (so it can be
 * copied), then a spinner with the time left on a TTY, or plain lines otherwise.
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
  const sayAbove = (lines: readonly string[]): void => {
    if (lines.length === 0) return;
    if (!pasting) spinner?.pause();
    for (const line of lines) say(io, line);
    if (!pasting) spinner?.resume();
  };

  const timeLeft = (): string => {
    const seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  };

  const lines = (event: LoginEvent): string[] => loginEventLines(event, providerName, Date.now());

  return {
    onEvent(event) {
      switch (event.type) {
        case 'login_method':
        case 'paste_rejected':
        case 'port_busy':
        case 'authorization_url':
          for (const line of lines(event)) say(io, line);
          break;
        case 'port_forwarding':
        case 'device_poll':
        case 'browser_failed':
        case 'callback_rejected':
          sayAbove(lines(event));
          break;
        case 'device_code':
          waitingFor = 'you to enter the code';
          for (const line of lines(event)) say(io, line);
          for (const line of renderQr?.(event.verificationUriComplete ?? event.verificationUri) ?? []) say(io, line);
          break;
        case 'paste_requested':
          if (ticker) clearInterval(ticker);
          spinner?.pause();
          pasting = true;
          for (const line of lines(event)) say(io, line);
          break;
        case 'browser_opened':
          break;
        case 'waiting':
          deadline = event.deadline;
          if (spinner && !pasting) {
            spinner.start(`Waiting for ${waitingFor} (${timeLeft()} left, Ctrl-C to cancel)`);
            ticker = setInterval(() => spinner.update(`Waiting for ${waitingFor} (${timeLeft()} left, Ctrl-C to cancel)`), 1000);
            ticker.unref();
          } else if (pasting) {
            say(io, `(Waiting up to ${timeLeft()} for the address or the browser; Ctrl-C to cancel.)`);
          } else {
            for (const line of lines(event)) say(io, line);
          }
          break;
        case 'exchanging_code':
          if (ticker) clearInterval(ticker);
          spinner?.update('Finishing sign-in');
          break;
      }
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
