import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import {
  type AgentHandle,
  type AgentStatus,
  type PassphraseProvider,
  LoginkitError,
  childEnvironment,
  connectAgent,
  resolveHome,
  startAgent,
} from '../../index.js';
import type { CliContext } from '../context.js';
import { type Io, UsageError, printJson, say, writeData } from '../output.js';
import { passphraseFor } from '../passphrase-prompt.js';

/** How long `agent start` waits for the background agent to answer. */
const START_TIMEOUT_MS = 30_000;
/** The descriptor over which `agent start` hands the passphrase to the background agent (never argv, env or a file). */
const HANDOFF_FD = 3;

interface ServeOptions {
  lockAfter?: string;
  tcp?: string | boolean;
  handoff?: boolean;
}

/** `loginkit agent [start|stop|status|lock|unlock]`: the credential broker (see docs/agent.md). */
export function register(program: Command, ctx: CliContext): void {
  const agent = program
    .command('agent')
    .description('run the credential broker in the foreground (start, stop, status, lock, unlock)')
    .option('--lock-after <seconds>', 'forget the unlocked store after this long without a request')
    .option('--tcp [port]', 'also listen on 127.0.0.1 (for containers that cannot mount the socket); prints LOGINKIT_AGENT_TOKEN')
    .addOption(new Option('--handoff', 'started by `agent start`: talks to it over descriptor 3').hideHelp())
    .action(async (options: ServeOptions) => {
      if (options.handoff) return ctx.exit(await serveHandedOff(ctx.io, options));
      const handle = await startAgent(agentOptions(ctx.io, options, passphraseFor(ctx.io)));
      // Handlers first: a signal sent as soon as the line below is read must find them.
      const stop = (): void => void handle.close();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.once('SIGHUP', stop);
      writeData(ctx.io, exportLines(handle));
      say(ctx.io, `loginkit agent ${process.pid} is listening; stop it with Ctrl-C, SIGTERM or: loginkit agent stop`);
      await handle.closed;
    });
  agent
    .command('start')
    .description('start the agent in the background and print LOGINKIT_AGENT_SOCK=…; for eval')
    .option('--lock-after <seconds>', 'forget the unlocked store after this long without a request')
    .option('--tcp [port]', 'also listen on 127.0.0.1 with a token (for containers)')
    .action(async (options: ServeOptions) => writeData(ctx.io, await startInBackground(ctx.io, options)));
  agent
    .command('stop')
    .description('stop the agent LOGINKIT_AGENT_SOCK names')
    .action(async () => {
      await withAgent(ctx.io, (agent) => agent.request('agent.stop'));
      say(ctx.io, 'The loginkit agent has stopped.');
    });
  agent
    .command('status')
    .description('the agent, its audit log and its live brokered children')
    .option('--json', 'print it as JSON')
    .action(async (options: { json?: boolean }) => {
      ctx.json(options.json);
      const status = await withAgent(ctx.io, (agent) => agent.request<AgentStatus>('agent.status'));
      if (options.json) return printJson(ctx.io, status);
      say(ctx.io, `loginkit agent ${status.pid} at ${status.socket}${status.locked ? ' (locked)' : ''}`);
      if (status.tcp) say(ctx.io, `TCP: ${status.tcp}`);
      say(ctx.io, `Proxy: ${status.proxy || 'not started yet'}`);
      say(ctx.io, `Audit log: ${status.auditLog}`);
      if (status.children.length === 0) say(ctx.io, 'No brokered children.');
      for (const child of status.children) {
        const ends = child.expiresAt === null ? '' : `, ends ${new Date(child.expiresAt).toISOString()}`;
        say(ctx.io, `PID ${child.pid ?? '?'} (${child.child}): ${child.providers.join(', ')}${ends}`);
      }
    });
  agent
    .command('lock')
    .description('make the agent forget the unlocked store until `agent unlock`')
    .action(async () => {
      await withAgent(ctx.io, (agent) => agent.request('agent.lock'));
      say(ctx.io, 'The loginkit agent is locked; unlock it with: loginkit agent unlock');
    });
  agent
    .command('unlock')
    .description("give a locked agent the store's passphrase again")
    .action(async () => {
      const passphrase = await passphraseFor(ctx.io)({ purpose: 'unlock', path: 'the loginkit agent' });
      await withAgent(ctx.io, (agent) => agent.request('agent.unlock', passphrase ? { passphrase } : {}));
      say(ctx.io, 'The loginkit agent is unlocked.');
    });
}

/** The lines `eval` takes: the socket (and, with --tcp, the TCP address and its token for a container). */
function exportLines(handle: AgentHandle): string {
  const lines = [`LOGINKIT_AGENT_SOCK=${shellWord(handle.socket)}; export LOGINKIT_AGENT_SOCK;`];
  if (handle.tcp)
    lines.push(
      `LOGINKIT_AGENT_TCP=${handle.tcp.address}; LOGINKIT_AGENT_TOKEN=${handle.tcp.token}; export LOGINKIT_AGENT_TCP LOGINKIT_AGENT_TOKEN;`,
    );
  return `${lines.join('\n')}\n`;
}

function shellWord(text: string): string {
  return /^[\w/.,:@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

function agentOptions(io: Io, options: ServeOptions, askPassphrase: PassphraseProvider): Parameters<typeof startAgent>[0] {
  const lockAfter = options.lockAfter === undefined ? undefined : Number(options.lockAfter);
  if (lockAfter !== undefined && !(Number.isFinite(lockAfter) && lockAfter > 0))
    throw new UsageError('--lock-after takes a number of seconds, e.g. --lock-after 3600');
  const tcpPort = options.tcp === undefined ? undefined : options.tcp === true ? 0 : Number(options.tcp);
  if (tcpPort !== undefined && !(Number.isInteger(tcpPort) && tcpPort >= 0 && tcpPort < 65536))
    throw new UsageError('--tcp takes a port number, e.g. --tcp 7878');
  return {
    env: io.env,
    askPassphrase,
    lockAfterMs: lockAfter === undefined ? undefined : lockAfter * 1000,
    tcpPort,
    onWarning: (message) => say(io, `warning: ${message}`),
  };
}

/** Runs `request` on the agent LOGINKIT_AGENT_SOCK names, and closes the connection. */
async function withAgent<T>(io: Io, request: (agent: ReturnType<typeof connectAgent>) => Promise<T>): Promise<T> {
  const agent = connectAgent(io.env);
  try {
    return await request(agent);
  } finally {
    agent.close();
  }
}

/**
 * `agent start`: starts `loginkit agent --handoff` detached, with no standard stream of ours, answers its
 * passphrase questions over descriptor 3 (from LOGINKIT_PASSPHRASE or a prompt here), and returns the
 * export lines once it listens. A stale LOGINKIT_AGENT_SOCK or socket does not matter: every agent gets a fresh folder.
 */
async function startInBackground(io: Io, options: ServeOptions): Promise<string> {
  const askPassphrase = passphraseFor(io);
  const env = childEnvironment(io.env);
  delete env.LOGINKIT_AGENT_SOCK;
  delete env.LOGINKIT_AGENT_TOKEN;
  const home = resolve(resolveHome(io.env));
  env.LOGINKIT_HOME = home;
  const args = [...process.execArgv, process.argv[1] as string, 'agent', '--handoff'];
  if (options.lockAfter !== undefined) args.push('--lock-after', options.lockAfter);
  if (options.tcp !== undefined) args.push(...(options.tcp === true ? ['--tcp'] : ['--tcp', String(options.tcp)]));
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env, cwd: '/' });
  const channel = child.stdio[HANDOFF_FD] as Socket;
  try {
    return await new Promise<string>((done, fail) => {
      const timer = setTimeout(
        () => fail(new LoginkitError('timeout', `The loginkit agent did not start within ${START_TIMEOUT_MS / 1000} s.`)),
        START_TIMEOUT_MS,
      );
      child.once('exit', () => fail(new LoginkitError('configuration', 'The loginkit agent ended before it listened.')));
      readLines(channel, async (message) => {
        if (message.type === 'ask') {
          const passphrase = await askPassphrase(message.request as Parameters<PassphraseProvider>[0]).catch(() => undefined);
          channel.write(`${JSON.stringify({ type: 'passphrase', value: passphrase ?? null })}\n`);
        } else if (message.type === 'ready') {
          clearTimeout(timer);
          done(String(message.exports));
        } else if (message.type === 'error') {
          clearTimeout(timer);
          fail(new LoginkitError((message.code as LoginkitError['code']) ?? 'configuration', String(message.message)));
        }
      });
    });
  } finally {
    channel.destroy();
    child.unref();
  }
}

/** The background half of `agent start`: asks for the passphrase over descriptor 3, says when it listens, then lets go of it. */
async function serveHandedOff(io: Io, options: ServeOptions): Promise<number> {
  const channel = new Socket({ fd: HANDOFF_FD, readable: true, writable: true });
  const answers: Array<(value: string | undefined) => void> = [];
  readLines(channel, async (message) => {
    if (message.type === 'passphrase') answers.shift()?.(typeof message.value === 'string' ? message.value : undefined);
  });
  const askPassphrase: PassphraseProvider = (request) =>
    new Promise((answer) => {
      answers.push(answer);
      channel.write(`${JSON.stringify({ type: 'ask', request })}\n`);
    });
  let handle: AgentHandle;
  try {
    handle = await startAgent(agentOptions(io, options, askPassphrase));
  } catch (error) {
    const { code = 'configuration', message } = error instanceof LoginkitError ? error : { message: String(error) };
    channel.end(`${JSON.stringify({ type: 'error', code, message })}\n`);
    return 1;
  }
  process.once('SIGTERM', () => void handle.close());
  process.once('SIGINT', () => void handle.close());
  process.on('SIGHUP', () => undefined);
  channel.end(`${JSON.stringify({ type: 'ready', exports: exportLines(handle) })}\n`);
  await handle.closed;
  return 0;
}

/** Calls `onMessage` with each JSON line read from `socket`. */
function readLines(socket: Socket, onMessage: (message: Record<string, unknown>) => Promise<void>): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      try {
        void onMessage(JSON.parse(line) as Record<string, unknown>);
      } catch {
        socket.destroy();
      }
      newline = buffered.indexOf('\n');
    }
  });
}
