// Editing another tool's JSON file in place: only the values changed, every other byte as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spliceJson } from '../../src/shared/json-splice.js';

test('replaces a value where it stands and keeps numbers JSON.parse would round, duplicates and layout', () => {
  const text = '\uFEFF{ "n": 12345678901234567890, "a": {"t" : "old", "t": "older"},\t"z": [1, {"t": "x"}] }\n';
  assert.equal(
    spliceJson(text, [{ path: ['a', 't'], value: 'new"\u2028' }]),
    '\uFEFF{ "n": 12345678901234567890, "a": {"t" : "old", "t": "new\\"\u2028"},\t"z": [1, {"t": "x"}] }\n',
  );
});

test('adds a missing key at the end of its object, indented like the member before it', () => {
  assert.equal(
    spliceJson('{\n  "a": {\n    "x": 1\n  }\n}', [{ path: ['a', 'y'], value: 2 }]),
    '{\n  "a": {\n    "x": 1,\n    "y": 2\n  }\n}',
  );
  assert.equal(spliceJson('{"a": {}}', [{ path: ['a', 'y'], value: 'v' }]), '{"a": {"y": "v"}}');
  assert.equal(
    spliceJson('{"a": 1, "b": 2}', [
      { path: ['c'], value: 3 },
      { path: ['a'], value: 0 },
    ]),
    '{"a": 0, "b": 2, "c": 3}',
  );
});

test('refuses text that is not JSON, or a path through something other than an object, without quoting the text', () => {
  for (const broken of ['{"secret": "abc"', '{"a": 01}', '{"a": "\u0001"}', '{"a": 1} x', '[1]', '{"a": tru}']) {
    assert.throws(
      () => spliceJson(broken, [{ path: ['a'], value: 1 }]),
      (error: Error) => error instanceof SyntaxError && !error.message.includes('abc'),
      broken,
    );
  }
  assert.throws(() => spliceJson('{"a": "s"}', [{ path: ['a', 'b'], value: 1 }]), SyntaxError);
  assert.throws(() => spliceJson(`${'{"a":'.repeat(100)}1${'}'.repeat(100)}`, [{ path: ['a'], value: 1 }]), SyntaxError);
});
