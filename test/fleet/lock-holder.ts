// A machine that takes a credential's refresh lock on the shared store and then stops doing anything, as
// a machine does when it is killed or cut off mid-refresh: `LOGINKIT_STORE`, `LOGINKIT_DATA_KEY` from the
// environment, the lock's name as argument; prints "locked" once it holds it.
import { sharedStore } from './support.js';

const store = sharedStore({ LOGINKIT_STORE: process.env.LOGINKIT_STORE ?? '', LOGINKIT_DATA_KEY: process.env.LOGINKIT_DATA_KEY ?? '' });
await store.withLock(process.argv[2] ?? 'refresh-demo/default', async () => {
  process.stdout.write('locked\n');
  await new Promise(() => undefined);
});
