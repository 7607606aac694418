import { createInterface } from 'node:readline';
import { type LoginMethod, createPasteBox } from '../index.js';
import { UsageError } from './output.js';

/** Values of `--method`. */
export const METHOD_CHOICES = ['auto', 'browser', 'device', 'paste'] as const;

/** The sign-in flags of `loginkit login`. */
export interface SignInFlags {
  method?: (typeof METHOD_CHOICES)[number];
  device?: boolean;
  paste?: boolean;
  withApiKey?: boolean;
}

/** The method asked for with `--method`, `--device` or `--paste` (undefined: none of them), refusing contradictions. */
export function requestedMethod(flags: SignInFlags): LoginMethod | 'auto' | undefined {
  const asked = new Set<LoginMethod | 'auto'>();
  if (flags.method !== undefined) asked.add(flags.method);
  if (flags.device) asked.add('device');
  if (flags.paste) asked.add('paste');
  if (asked.size > 1) throw new UsageError(`Choose one way to sign in: ${[...asked].map((m) => `--method ${m}`).join(' or ')}.`);
  const [method] = asked;
  if (method !== undefined && flags.withApiKey) {
    throw new UsageError(
      '--with-api-key stores a key; --method, --device and --paste choose how to sign in through OAuth. Use one or the other.',
    );
  }
  return method;
}

/**
 * Where pasted callback URLs come from: stdin when it is a terminal (unless the sign-in is by device code), or
 * any stdin with `--paste`. Stdin is read only once the login asks for a paste, and released when it stops.
 */
export function pasteInput(
  method: LoginMethod | 'auto',
  stdin: NodeJS.ReadableStream & { isTTY?: boolean },
): AsyncIterable<string> | undefined {
  if (method === 'device' || (method !== 'paste' && stdin.isTTY !== true)) return undefined;
  return {
    [Symbol.asyncIterator]() {
      const lines = createInterface({ input: stdin, terminal: false, crlfDelay: Infinity });
      const box = createPasteBox(() => lines.close());
      lines.on('line', (line) => box.submit(line));
      lines.on('close', () => box.end());
      return box.lines[Symbol.asyncIterator]();
    },
  };
}
