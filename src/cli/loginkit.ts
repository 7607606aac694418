import type { Io } from './output.js';
import { isPlainTokenCall } from './print-token.js';

const argv = process.argv.slice(2);
// Getters: creating process.stdout/stderr costs start-up time, and `loginkit token` may never need them.
const io: Io = {
  get stdin() {
    return process.stdin;
  },
  get stdout() {
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
  env: process.env,
  stdoutFd: 1,
};
// No top-level await: the CLI is bundled as CommonJS (see scripts/build.mjs).
const run = isPlainTokenCall(argv)
  ? import('./print-token.js').then(({ printToken }) => printToken(argv[1], io))
  : import('./main.js').then(({ runCli }) => runCli(argv, io));
void run.then((code) => process.exit(code));
