// Started by scripts/test.mjs: one headless Chromium for the whole run, which every test process (and every
// `$BROWSER` process a CLI starts) connects to instead of launching its own. Prints the websocket endpoint on a
// line of its own, then runs until stdin closes or a signal comes.
import { launchBrowserServer } from './browser.js';

const server = await launchBrowserServer();
const stop = (code: number): void => {
  void server.close().finally(() => process.exit(code));
};
process.stdout.write(`${server.wsEndpoint()}\n`);
process.stdin.resume();
process.stdin.on('end', () => stop(0));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => stop(1));
