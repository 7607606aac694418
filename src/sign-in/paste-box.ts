// The UI side of pasting: a queue a TUI fills and a login reads. Kept apart from paste.ts, which checks
// what was pasted (and loads node:crypto for it), so that the public API loads without it.

/** A place a UI puts what the person pasted; `lines` is what {@link PersonOptions.pasted} takes. */
export interface PasteBox {
  /** Read by the login, one text per paste. */
  readonly lines: AsyncIterable<string>;
  /** Hands one pasted text to the login. */
  submit(text: string): void;
  /** No more input will come. */
  end(): void;
}

/**
 * A paste box for a TUI: call `submit(text)` from the input field's handler and pass `lines` to `login`.
 * `onStop` runs once the login stops reading (it finished, failed or was cancelled), e.g. to hide the field.
 */
export function createPasteBox(onStop?: () => void): PasteBox {
  const queue: string[] = [];
  let waiting: ((result: IteratorResult<string>) => void) | undefined;
  let ended = false;
  const finish = (): void => {
    ended = true;
    waiting?.({ value: undefined, done: true });
    waiting = undefined;
  };
  const iterator: AsyncIterator<string> = {
    next() {
      const text = queue.shift();
      if (text !== undefined) return Promise.resolve({ value: text, done: false });
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return() {
      const wasEnded = ended;
      finish();
      queue.length = 0;
      if (!wasEnded) onStop?.();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return {
    lines: { [Symbol.asyncIterator]: () => iterator },
    submit(text) {
      if (ended) return;
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value: text, done: false });
      } else {
        queue.push(text);
      }
    },
    end: finish,
  };
}
