import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_ENTRY, cliEnvironment, makeHome, runCliProcess } from './test/helpers/cli.js';
import { seedValidToken } from './test/helpers/store-fixtures.js';
import { startManagedIdentity } from './test/helpers/azure-stand-ins.js';

const mi = await startManagedIdentity();
const home = await makeHome();
await writeFile(join(home, 'config.json'), JSON.stringify({ providers: { azure: { type: 'azure' }, demo: { type: 'oauth', issuer: 'https://auth.example.com', clientId: 'x' } } }));
const env = { LOGINKIT_STORE: 'file', IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader };
await seedValidToken(home, 'demo', 'valid-access-token');
const first = await runCliProcess(['token', 'azure'], { home, env });
if (first.code !== 0) throw new Error(first.stderr);
const childEnv = cliEnvironment(home, env);
const time = (args: string[]): number => {
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, args, { env: childEnv });
  if (run.status !== 0) throw new Error(String(run.stderr));
  return Number(process.hrtime.bigint() - start) / 1e6;
};
const rounds = { azure: [] as number[], demo: [] as number[], node: [] as number[] };
for (let i = 0; i < 40; i++) {
  rounds.azure.push(time([CLI_ENTRY, 'token', 'azure']));
  rounds.demo.push(time([CLI_ENTRY, 'token', 'demo']));
  rounds.node.push(time(['-e', '0']));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const n = median(rounds.node);
console.log(JSON.stringify({ azure: median(rounds.azure).toFixed(1), demo: median(rounds.demo).toFixed(1), node: n.toFixed(1), azureRatio: (median(rounds.azure) / n).toFixed(2), demoRatio: (median(rounds.demo) / n).toFixed(2), requests: mi.requests }));
await mi.close();
