import type { Loginkit, LoginkitOptions } from '../index.js';
import { clientFor } from './client-for.js';
import type { Io } from './output.js';

/** What every command gets: where to read and write, the client, how to end, and the output mode. */
export interface CliContext {
  readonly io: Io;
  /** The loginkit client for this run (settings from `io.env`, warnings on stderr); made on first use. */
  kit(options?: Pick<LoginkitOptions, 'store'>): Loginkit;
  /** Ends the command with an exit code after it has printed what it had to say. */
  exit(code: number): never;
  /** Records whether the command prints JSON, so that an error is also reported as JSON. */
  json(enabled: boolean | undefined): void;
  /** Closes every client the run made (a shared store's connections); called once the command is done. */
  close(): Promise<void>;
}

/** Ends a run with an exit code; thrown by {@link CliContext.exit} and caught by `runCli`. */
export class ExitWith extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/** A context for one run of the CLI; `onJson` is told the output mode the command chose. */
export function createCliContext(io: Io, onJson: (enabled: boolean) => void): CliContext {
  let client: Loginkit | undefined;
  const made: Loginkit[] = [];
  const remember = (kit: Loginkit): Loginkit => {
    made.push(kit);
    return kit;
  };
  return {
    io,
    kit: (options) => {
      if (options?.store !== undefined) return remember(clientFor(io, options));
      client ??= remember(clientFor(io));
      return client;
    },
    close: async () => {
      await Promise.all(made.map((kit) => kit.close().catch(() => undefined)));
    },
    exit: (code) => {
      throw new ExitWith(code);
    },
    json: (enabled) => onJson(enabled === true),
  };
}
