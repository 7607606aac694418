// The lock Codex takes on $CODEX_HOME/auth.json.lock (an exclusive flock), taken by loginkit through
// flock(1) where it exists and perl where it does not (macOS): held for exactly as long as the task runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withToolLock } from '../../src/session/tool-lock.js';

/** Whether another process could take the flock right now (flock --nonblock exits 1 when it is held). */
function lockIsFree(lockPath: string): boolean {
  return spawnSync('/usr/bin/flock', ['--nonblock', lockPath, 'true']).status === 0;
}

async function withPath<T>(path: string, task: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await task();
  } finally {
    process.env.PATH = saved;
  }
}

for (const [helper, path] of [
  ['flock(1)', '/usr/bin:/bin'],
  ['perl, where flock(1) is missing', 'perl-only'],
] as const) {
  test(`withToolLock holds the exclusive flock while the task runs, with ${helper}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tool-lock-'));
    let searchPath: string = path;
    if (path === 'perl-only') {
      searchPath = join(dir, 'bin');
      await import('node:fs/promises').then((fs) => fs.mkdir(searchPath));
      await symlink('/usr/bin/perl', join(searchPath, 'perl'));
    }
    const lockPath = join(dir, 'auth.json.lock');
    const warnings: string[] = [];
    const heldDuringTask = await withPath(searchPath, () =>
      withToolLock(
        lockPath,
        async () => !lockIsFree(lockPath),
        (w) => void warnings.push(w),
      ),
    );
    assert.equal(heldDuringTask, true, 'another process cannot take it meanwhile');
    assert.equal(lockIsFree(lockPath), true, 'let go afterwards');
    assert.deepEqual(warnings, []);
    assert.equal((await stat(lockPath)).mode & 0o777, 0o600, 'created private, and left in place as Codex leaves it');
  });
}

test('withToolLock says so and runs the task when no helper can take the lock', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tool-lock-'));
  const warnings: string[] = [];
  const ran = await withPath(join(dir, 'empty'), () =>
    withToolLock(
      join(dir, 'auth.json.lock'),
      async () => true,
      (w) => void warnings.push(w),
    ),
  );
  assert.equal(ran, true);
  assert.match(warnings.join('\n'), /without the lock/);
});
