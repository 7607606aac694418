import type { Io } from './output.js';
import { isPlainTokenCall } from './token-command.js';

const argv = process.argv.slice(2);
// Getters: creating process.stdout/stderr costs start-up time, and `loginkit token` may never need them.
const io: Io = {
  get stdout() {
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
  env: process.env,
  stdoutFd: 1,
};
const code = isPlainTokenCall(argv)
  ? await (await import('./token-command.js')).printToken(argv[1], io)
  : await (await import('./main.js')).runCli(argv, io);
process.exit(code);
