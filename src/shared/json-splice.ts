// Editing another tool's JSON file without a lossy round trip: JSON.parse turns 12345678901234567890 into
// 12345678901234567000 and drops duplicate keys, and JSON.stringify changes the layout. Instead, a small
// tokenizer records where each value of the file sits in its text, and only the values being changed are
// replaced there; every other byte (numbers, key order, spacing, fields loginkit does not know) stays.

/** Where a value sits in the text: from `start` up to (not including) `end`. */
interface Span {
  readonly start: number;
  readonly end: number;
}

interface ObjectNode extends Span {
  readonly kind: 'object';
  /** The last member with each key (as JSON.parse keeps the last of duplicates). */
  readonly members: Map<string, Member>;
  /** The member that ends last, after which a new one is added. */
  last: Member | undefined;
}

interface Member {
  /** Where the key's string starts: the indentation before it is copied for a new member. */
  readonly keyStart: number;
  readonly value: ObjectNode | Span;
}

/** One value to write: the keys leading to it from the top-level object, and its new value. */
export interface JsonEdit {
  readonly path: readonly string[];
  readonly value: string | number;
}

/** Nesting deeper than this is no credentials file (and would exhaust the stack). */
const MAX_DEPTH = 64;

/**
 * `text` (a JSON object) with each edit applied in place: an existing value is replaced where it stands, a
 * missing last key is added at the end of its object. Throws a SyntaxError when `text` is not valid JSON,
 * or when a key on an edit's path (but the last) does not lead to an object.
 */
export function spliceJson(text: string, edits: readonly JsonEdit[]): string {
  const root = new JsonScanner(text).document();
  if (!('kind' in root)) throw new SyntaxError('the top level is not an object');
  const changes = edits.map((edit) => changeFor(text, root, edit));
  // From the end backwards, so that each change leaves the positions of the ones still to come intact.
  changes.sort((a, b) => b.start - a.start);
  let result = text;
  for (const change of changes) result = result.slice(0, change.start) + change.insert + result.slice(change.end);
  return result;
}

interface Change extends Span {
  readonly insert: string;
}

function changeFor(text: string, root: ObjectNode, edit: JsonEdit): Change {
  let node = root;
  for (const key of edit.path.slice(0, -1)) {
    const next = node.members.get(key)?.value;
    if (!next || !('kind' in next)) throw new SyntaxError(`"${key}" is not an object`);
    node = next;
  }
  const key = edit.path.at(-1) as string;
  const encoded = typeof edit.value === 'number' ? String(edit.value) : JSON.stringify(edit.value);
  const existing = node.members.get(key);
  if (existing) return { start: existing.value.start, end: existing.value.end, insert: encoded };
  const member = `${JSON.stringify(key)}: ${encoded}`;
  if (!node.last) return { start: node.start + 1, end: node.start + 1, insert: member };
  return { start: node.last.value.end, end: node.last.value.end, insert: `,${indentationBefore(text, node.last.keyStart)}${member}` };
}

/** The line break and indentation before the key at `keyStart`, or one space when it shares its line. */
function indentationBefore(text: string, keyStart: number): string {
  const lineStart = text.lastIndexOf('\n', keyStart - 1);
  const indentation = text.slice(lineStart + 1, keyStart);
  return lineStart >= 0 && /^[ \t]*$/.test(indentation) ? `\n${indentation}` : ' ';
}

/** A strict JSON reader (RFC 8259) that records spans instead of building values. */
class JsonScanner {
  #at = 0;

  constructor(private readonly text: string) {}

  document(): ObjectNode | Span {
    // A byte order mark is allowed before the text (and kept, since it is not part of any value).
    if (this.text.charCodeAt(0) === 0xfeff) this.#at = 1;
    const value = this.#value(0);
    this.#skipSpace();
    if (this.#at !== this.text.length) this.#fail('unexpected text after the value');
    return value;
  }

  #value(depth: number): ObjectNode | Span {
    if (depth > MAX_DEPTH) this.#fail('nested too deeply');
    this.#skipSpace();
    const start = this.#at;
    const char = this.text[start];
    if (char === '{') return this.#object(depth);
    if (char === '[') this.#array(depth);
    else if (char === '"') this.#string();
    else if (char === 't' || char === 'f' || char === 'n') this.#literal();
    else this.#number();
    return { start, end: this.#at };
  }

  #object(depth: number): ObjectNode {
    const node: ObjectNode = { kind: 'object', start: this.#at, end: this.#at, members: new Map(), last: undefined };
    this.#at++;
    this.#skipSpace();
    if (this.text[this.#at] === '}') {
      this.#at++;
      return { ...node, end: this.#at };
    }
    for (;;) {
      this.#skipSpace();
      const keyStart = this.#at;
      if (this.text[keyStart] !== '"') this.#fail('expected a key');
      this.#string();
      const key = JSON.parse(this.text.slice(keyStart, this.#at)) as string;
      this.#skipSpace();
      this.#expect(':');
      const member: Member = { keyStart, value: this.#value(depth + 1) };
      node.members.set(key, member);
      node.last = member;
      this.#skipSpace();
      if (this.text[this.#at] === ',') {
        this.#at++;
        continue;
      }
      this.#expect('}');
      return { ...node, end: this.#at };
    }
  }

  #array(depth: number): void {
    this.#at++;
    this.#skipSpace();
    if (this.text[this.#at] === ']') {
      this.#at++;
      return;
    }
    for (;;) {
      this.#value(depth + 1);
      this.#skipSpace();
      if (this.text[this.#at] === ',') {
        this.#at++;
        continue;
      }
      this.#expect(']');
      return;
    }
  }

  #string(): void {
    const match = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    this.#match(match, 'a string');
  }

  #number(): void {
    this.#match(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y, 'a value');
  }

  #literal(): void {
    this.#match(/true|false|null/y, 'a value');
  }

  #match(pattern: RegExp, what: string): void {
    pattern.lastIndex = this.#at;
    if (!pattern.test(this.text)) this.#fail(`expected ${what}`);
    this.#at = pattern.lastIndex;
  }

  #expect(char: string): void {
    if (this.text[this.#at] !== char) this.#fail(`expected "${char}"`);
    this.#at++;
  }

  #skipSpace(): void {
    while (/[ \t\n\r]/.test(this.text[this.#at] ?? '')) this.#at++;
  }

  // Says where, never what: the text is a credentials file.
  #fail(problem: string): never {
    throw new SyntaxError(`${problem} at position ${this.#at}`);
  }
}
