// `npm run bench`: measures against a baseline in the same run and prints ratios.
//  1. Cold start of `loginkit token <id>` with a valid token stored, against `node -e 0`, alternating.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentialKey, serializeCredential, toCredential } from '../src/session/credential.js';
import { createFileStore } from '../src/store/file-store.js';
import { plaintextCodec } from '../src/store/plaintext-codec.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin/loginkit.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function timeRun(args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return elapsed;
}

/** A home with one valid OAuth credential for provider `bench`, valid for a day. */
async function homeWithValidToken(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'loginkit-bench-'));
  const store = createFileStore(join(home, 'credentials.json'), plaintextCodec);
  const now = Date.now();
  const credential = toCredential(
    { provider: 'bench', profile: 'default', clientId: 'bench', server: { issuer: 'https://auth.example.com', token_endpoint: 'https://auth.example.com/token' } },
    { accessToken: 'bench-access-token', refreshToken: 'bench-refresh', idToken: undefined, tokenType: 'bearer', scopes: ['openid'], expiresAt: now + 86_400_000, obtainedAt: now, account: { subject: 'bench' } },
  );
  await store.update((entries) => ({ ...entries, [credentialKey('bench')]: serializeCredential(credential) }));
  return home;
}

async function tokenColdStart(): Promise<void> {
  const home = await homeWithValidToken();
  const env = { ...process.env, LOGINKIT_HOME: home };
  const baseline: number[] = [];
  const token: number[] = [];
  timeRun(['-e', '0'], env);
  timeRun([cli, 'token', 'bench'], env);
  for (let round = 0; round < ROUNDS; round++) {
    baseline.push(timeRun(['-e', '0'], env));
    token.push(timeRun([cli, 'token', 'bench'], env));
  }
  const ratio = median(token) / median(baseline);
  console.log('loginkit token cold start (valid token stored), alternating with `node -e 0`:');
  console.log(`  node -e 0            median ${median(baseline).toFixed(1)} ms`);
  console.log(`  loginkit token <id>  median ${median(token).toFixed(1)} ms`);
  console.log(`  ratio ${ratio.toFixed(2)} (goal ≤ 1.30) ${ratio <= 1.3 ? 'ok' : 'OVER GOAL'}`);
  await rm(home, { recursive: true, force: true });
}

console.log(`Node.js ${process.version}, ${ROUNDS} rounds each\n`);
await tokenColdStart();
