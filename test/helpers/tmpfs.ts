// A real, small tmpfs for tests that need a file system to fail: full (ENOSPC) or read-only (EROFS). Needs
// root (the test machine runs the suite as root).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A mounted tmpfs: `readOnly()` remounts it read-only; `dispose()` unmounts it and removes its folder. */
export interface Tmpfs {
  readonly dir: string;
  readOnly(): void;
  dispose(): Promise<void>;
}

/** Mounts a tmpfs of `size` (mount's syntax: `256k`, `1m`) at a new private folder. */
export async function mountTmpfs(size: string): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    readOnly: () => execFileSync('mount', ['-o', 'remount,ro', dir]),
    dispose: async () => {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
