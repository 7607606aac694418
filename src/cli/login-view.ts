import type { LoginEvent, RejectionReason } from '../index.js';
import { type Io, say } from './output.js';

const REJECTION_TEXT: Record<RejectionReason, string> = {
  method: 'wrong HTTP method',
  path: 'wrong path',
  host: 'wrong Host header',
  state_missing: 'no state',
  state_mismatch: 'state does not match this login',
  state_repeated: 'more than one state',
  already_used: 'this login already received its callback',
};

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
  let ticker: NodeJS.Timeout | undefined;
  let deadline = 0;

  const timeLeft = (): string => {
    const seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  };

  return {
    onEvent(event) {
      switch (event.type) {
        case 'authorization_url':
          say(io, `To sign in to ${providerName}, open this URL in a browser:`);
          say(io, event.url);
          break;
        case 'browser_opened':
          break;
        case 'browser_failed':
          spinner?.pause();
          say(io, `Could not open a browser (${event.message}). Open the URL above yourself.`);
          spinner?.resume();
          break;
        case 'waiting':
          deadline = event.deadline;
          if (spinner) {
            spinner.start(`Waiting for you to finish in the browser (${timeLeft()} left, Ctrl-C to cancel)`);
            ticker = setInterval(() => spinner.update(`Waiting for you to finish in the browser (${timeLeft()} left, Ctrl-C to cancel)`), 1000);
            ticker.unref();
          } else {
            say(io, `Waiting up to ${Math.round((deadline - Date.now()) / 1000)} s for the sign-in to finish…`);
          }
          break;
        case 'callback_rejected':
          spinner?.pause();
          say(io, `Turned away a request to the sign-in listener (${REJECTION_TEXT[event.reason]}); still waiting.`);
          spinner?.resume();
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

async function startSpinner(io: Io): Promise<Spinner> {
  const { spinner } = await import('@clack/prompts');
  let current: ReturnType<typeof spinner> | undefined;
  let text = '';
  return {
    start(message) {
      text = message;
      current = spinner({ output: io.stderr as NodeJS.WriteStream, withGuide: false });
      current.start(message);
    },
    update(message) {
      text = message;
      current?.message(message);
    },
    pause() {
      current?.clear();
    },
    resume() {
      if (current) {
        current = spinner({ output: io.stderr as NodeJS.WriteStream, withGuide: false });
        current.start(text);
      }
    },
    stop(message) {
      current?.stop(message);
      current = undefined;
    },
  };
}
