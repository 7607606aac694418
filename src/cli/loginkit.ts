import type { Io } from './output.js';
import { isPlainTokenCall } from './token-command.js';

const argv = process.argv.slice(2);
const io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
const code = isPlainTokenCall(argv)
  ? await (await import('./token-command.js')).printToken(argv[1], io)
  : await (await import('./main.js')).runCli(argv, io);
process.exit(code);
