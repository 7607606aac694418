// A separate process that writes the credential store through the library's file store, for the
// durability tests (run with `node --import tsx`):
//   loop <store> <keys> <kib>   rewrite every key with a growing sequence number, forever; print
//                                "wrote <seq>" each time an update has resolved (is durable)
//   once <store> <provider> <go> print "ready", wait for the file <go> to exist, store one credential for
//                                <provider>, print "done"
import { existsSync } from 'node:fs';
import { createFileStore } from '../../src/store/file-store.js';
import { plaintextCodec } from '../../src/store/plaintext-codec.js';
import { credentialEntry, sleep } from './support.js';

/** The entry a writer stores for `provider` at sequence `seq`: its tokens and padding all carry `seq`. */
export function sequencedEntry(provider: string, seq: number, kib: number): Record<string, unknown> {
  const stamp = `${provider}:${String(seq).padStart(8, '0')};`;
  return credentialEntry({
    provider,
    tokenEndpoint: 'http://127.0.0.1:9/token',
    accessToken: `at-${seq}-${provider}`,
    refreshToken: `rt-${seq}-${provider}`,
    expiresInMs: 3_600_000,
    idToken: stamp.repeat(Math.ceil((kib * 1024) / stamp.length)),
  });
}

/** The sequence number an entry written by {@link sequencedEntry} carries; throws when any part disagrees. */
export function sequenceOf(provider: string, entry: unknown, kib: number): number {
  const record = entry as { accessToken?: unknown };
  const seq = Number(/^at-(\d+)-/.exec(String(record.accessToken))?.[1]);
  if (!Number.isInteger(seq)) throw new Error(`entry ${provider} has no sequence number`);
  const expected = JSON.stringify(sequencedEntry(provider, seq, kib), ['accessToken', 'refreshToken', 'idToken']);
  if (JSON.stringify(entry, ['accessToken', 'refreshToken', 'idToken']) !== expected) {
    throw new Error(`entry ${provider} is inconsistent (torn or mixed) at sequence ${seq}`);
  }
  return seq;
}

async function main(): Promise<void> {
  const [mode, path, arg, extra] = process.argv.slice(2);
  if (!path) throw new Error('usage: store-writer.ts loop|once <store> ...');
  const store = createFileStore(path, plaintextCodec);
  if (mode === 'loop') {
    const keys = Number(arg);
    const kib = Number(extra);
    const providers = Array.from({ length: keys }, (_, i) => `p${i}`);
    for (;;) {
      let seq = 0;
      await store.update((entries) => {
        const current = entries['p0/default'];
        seq = current === undefined ? 1 : sequenceOf('p0', current, kib) + 1;
        return { ...entries, ...Object.fromEntries(providers.map((p) => [`${p}/default`, sequencedEntry(p, seq, kib)])) };
      });
      process.stdout.write(`wrote ${seq}\n`);
    }
  }
  if (mode === 'once') {
    const provider = arg ?? 'p';
    process.stdout.write('ready\n');
    while (!existsSync(extra ?? '')) await sleep(2);
    await store.update((entries) => ({ ...entries, [`${provider}/default`]: sequencedEntry(provider, 1, 4) }));
    process.stdout.write('done\n');
    return;
  }
  throw new Error(`unknown mode ${String(mode)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
