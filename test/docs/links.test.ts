// Every relative link of the README and the guides leads somewhere: the file exists and, with an anchor, one
// of its headings has that anchor (as GitHub makes it). Moving a section between files breaks links quietly.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GUIDES } from '../helpers/docs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replaceAll('`', '')
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replaceAll(' ', '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = !inCode && /^#{1,6} (.*)$/.exec(line);
    if (heading) anchors.add(anchorOf(heading[1] as string));
  }
  return anchors;
}

test('every relative link of the README and docs/ points at a file that exists, and at a heading it has', () => {
  const broken: string[] = [];
  for (const file of ['README.md', ...GUIDES.map((guide) => `docs/${guide}`)]) {
    const path = join(ROOT, file);
    const text = readFileSync(path, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue;
      const [where = '', anchor] = (target as string).split('#');
      const linked = where === '' ? path : join(dirname(path), where);
      if (!existsSync(linked)) broken.push(`${file}: ${target} (no ${relative(ROOT, linked)})`);
      else if (anchor && linked.endsWith('.md') && !anchorsOf(linked).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});
