import { spawnSync } from 'node:child_process';
const home = process.argv[2]!;
const scripts = process.argv.slice(3);
const times: Record<string, number[]> = {};
const env = { ...process.env, LOGINKIT_HOME: home, LOGINKIT_STORE: 'file' };
for (let round = 0; round < 40; round++) {
  for (const t of ['node', ...scripts]) {
    const [file, ...rest] = t.split(' ');
    const args = t === 'node' ? ['-e', '0'] : [file!, ...(rest.length ? rest : ['token', 'bench'])];
    const s = performance.now();
    const r = spawnSync(process.execPath, args, { env });
    if (r.status !== 0) throw new Error(t + r.stderr);
    (times[t] ??= []).push(performance.now() - s);
  }
}
const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!;
for (const [t, a] of Object.entries(times)) console.log(t.padEnd(40), med(a).toFixed(1), (med(a) / med(times.node!)).toFixed(2));
