// Helper programs that tests start many times (store writers, a migration frozen at one step) are bundled once
// with esbuild, the library's code included: a bundle starts in ~0.1 s, the same program under tsx in ~1 s.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A bundled program, and the environment it needs to find the dependencies left out of it. */
export interface Bundle {
  file: string;
  /** NODE_PATH: modules loaded through createRequire (the keychain's native package) resolve from the repository. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

/** Bundles the TypeScript program `entry` into one ES module file in a temporary folder. */
export async function bundleProgram(entry: string): Promise<Bundle> {
  const { build } = await import('esbuild');
  const dir = await mkdtemp(join(tmpdir(), 'loginkit-bundle-'));
  const file = join(dir, 'program.mjs');
  await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS dependencies (proper-lockfile) require node built-ins.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return { file, env: { NODE_PATH: NODE_MODULES }, dispose: () => rm(dir, { recursive: true, force: true }) };
}
