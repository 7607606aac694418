import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { type LoginkitContext, type LoginkitOptions, createContext } from '../../context.js';
import { LoginRequiredError, LoginkitError } from '../../errors.js';
import type { EnvVars } from '../../shared/home.js';
import type { PassphraseProvider } from '../../store/passphrase-key.js';
import { execEnvironment, getTokenInfo } from '../credentials.js';
import { knownProvider } from '../known-provider.js';
import { status } from '../status.js';
import { type AgentRequest, type AgentStatus, MAX_LINE_BYTES } from './protocol.js';

// The agent: one process that holds the unlocked store and answers clients on a Unix socket in a fresh 0700
// folder (socket 0600). Every refresh happens here, through the same session code (and store locks) as a
// process that uses the store directly, so it stays single-flight with them.

/** Options of {@link startAgent}. */
export interface AgentOptions extends Pick<LoginkitOptions, 'home' | 'fetch' | 'now' | 'timeoutMs' | 'onWarning' | 'store'> {
  /** The agent's environment; the passphrase and LOGINKIT_AGENT_SOCK are taken out of what its store sees. */
  env: EnvVars;
  /** Asked for the store's passphrase once, at start (the `agent` command's prompt). */
  askPassphrase?: PassphraseProvider | undefined;
  /** Forget the unlocked store after this long without a request (ms); 0 or undefined: never. */
  lockAfterMs?: number | undefined;
  /** Also listen on 127.0.0.1:<port> (0: any free port), for containers that cannot mount the socket. */
  tcpPort?: number | undefined;
  /** Told once the agent has ended (stopped, or by `close`). */
  onClose?: (() => void) | undefined;
}

/** A running agent. */
export interface AgentHandle {
  /** Absolute path of the socket (`LOGINKIT_AGENT_SOCK`). */
  readonly socket: string;
  /** `tcp://127.0.0.1:<port>` and its token when a TCP listener was asked for. */
  readonly tcp: { address: string; token: string } | undefined;
  /** Stops listening, ends every connection, removes the socket and its folder. */
  close(): Promise<void>;
  /** Resolves once the agent has ended. */
  readonly closed: Promise<void>;
}

/** A method of the agent: its params (from JSON), the connection's state, and the result to send. */
type Method = (params: Record<string, unknown>, connection: ConnectionState) => Promise<unknown>;

/** What the agent knows about one client connection. */
interface ConnectionState {
  socket: Socket;
  /** A TCP connection must first say `hello` with the agent's token. */
  trusted: boolean;
  /** Run when the connection ends (a brokered child's capability dies with it). */
  onEnd: Array<() => void>;
}

const MAX_CONTEXTS = 16;

/** Starts an agent: makes its folder and socket, unlocks the store once, and answers until closed. */
export async function startAgent(options: AgentOptions): Promise<AgentHandle> {
  const env: Record<string, string | undefined> = { ...options.env };
  const passphraseFromEnv = env.LOGINKIT_PASSPHRASE;
  delete env.LOGINKIT_PASSPHRASE;
  delete env.LOGINKIT_AGENT_SOCK;
  delete env.LOGINKIT_AGENT_TOKEN;
  let unlockWith: PassphraseProvider | undefined = passphraseFromEnv
    ? async () => passphraseFromEnv
    : (options.askPassphrase ?? (async () => undefined));
  const askPassphrase: PassphraseProvider = async (request) => {
    if (unlockWith) return unlockWith(request);
    throw new LoginkitError('configuration', 'The loginkit agent is locked.\nUnlock it: loginkit agent unlock');
  };
  const contexts = new Map<string, LoginkitContext>();
  let base: LoginkitContext | undefined;
  const baseContext = (): LoginkitContext => (base ??= createContext({ ...options, env, askPassphrase }));
  /** A context per working directory (project rules are matched against the client's), all on one store. */
  const contextFor = (cwd: unknown): LoginkitContext => {
    const root = baseContext();
    if (typeof cwd !== 'string' || !cwd.startsWith('/')) return root;
    let ctx = contexts.get(cwd);
    if (!ctx) {
      if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value as string);
      ctx = createContext({ ...options, env, store: root.store, cwd });
      contexts.set(cwd, ctx);
    }
    return ctx;
  };
  const unlock = async (): Promise<void> => {
    await baseContext().store.read();
    // Opened: the store holds its key now; the passphrase is not kept.
    unlockWith = undefined;
  };
  const lock = (): void => {
    void base?.store.close?.();
    base = undefined;
    contexts.clear();
  };
  await unlock();

  const folder = await privateFolder(options.env, options.home ?? baseContext().home);
  const socketPath = join(folder, 'agent.sock');
  const connections = new Set<Socket>();
  let lastUsed = Date.now();
  let isLocked = false;
  let handle: AgentHandle;
  const methods: Record<string, Method> = {
    ping: async () => ({ pid: process.pid }),
    token: async (params) => {
      const ctx = contextFor(params.cwd);
      const provider = stringParam(params, 'provider');
      const envVars = [...((await knownProvider(ctx, provider))?.apiKey?.envVars ?? [])];
      if (params.source === 'env') return { envVars };
      return { ...(await getTokenInfo(ctx, provider, choiceOf(params))), envVars };
    },
    status: async (params) => status(contextFor(params.cwd), optionalString(params, 'provider'), profileOf(params)),
    exec: async (params) => execEnvironment(contextFor(params.cwd), stringList(params, 'providers'), choiceOf(params)),
    'agent.status': async (): Promise<AgentStatus> => ({
      pid: process.pid,
      socket: socketPath,
      auditLog: '',
      proxy: '',
      tcp: tcp?.address ?? null,
      locked: isLocked,
      children: [],
    }),
    'agent.lock': async () => {
      lock();
      isLocked = true;
      return {};
    },
    'agent.unlock': async (params) => {
      const passphrase = stringParam(params, 'passphrase');
      unlockWith = async () => passphrase;
      lock();
      await unlock();
      isLocked = false;
      return {};
    },
    'agent.stop': async () => {
      setImmediate(() => void handle.close());
      return {};
    },
  };

  const serve = (socket: Socket, trusted: boolean): void => {
    connections.add(socket);
    const state: ConnectionState = { socket, trusted, onEnd: [] };
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        void answer(line, state);
        newline = buffered.indexOf('\n');
      }
      if (buffered.length > MAX_LINE_BYTES) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      connections.delete(socket);
      for (const end of state.onEnd) end();
    });
  };

  const answer = async (line: string, state: ConnectionState): Promise<void> => {
    let request: AgentRequest;
    try {
      request = JSON.parse(line) as AgentRequest;
    } catch {
      return void state.socket.destroy();
    }
    if (!state.trusted) {
      if (request.method === 'hello' && tcp && sameSecret(String(request.params?.token ?? ''), tcp.token)) state.trusted = true;
      else state.socket.destroy();
      return;
    }
    lastUsed = Date.now();
    const method = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined;
    let reply: string;
    try {
      if (!method) throw new LoginkitError('usage', `The agent has no method "${String(request.method)}".`);
      if (isLocked && !request.method.startsWith('agent.') && request.method !== 'ping') {
        throw new LoginkitError('configuration', 'The loginkit agent is locked.\nUnlock it: loginkit agent unlock');
      }
      const result = await method(request.params ?? {}, state);
      reply = JSON.stringify({ id: request.id, result });
    } catch (error) {
      reply = JSON.stringify({ id: request.id, error: errorBody(error) });
    }
    if (!state.socket.destroyed) state.socket.write(`${reply}\n`);
  };

  const server = createServer((socket) => serve(socket, true));
  await listen(server, socketPath);
  await chmod(socketPath, 0o600);
  let tcp: { server: Server; address: string; token: string } | undefined;
  if (options.tcpPort !== undefined) {
    const tcpServer = createServer((socket) => serve(socket, false));
    await new Promise<void>((resolve, reject) => {
      tcpServer.once('error', reject);
      tcpServer.listen(options.tcpPort, '127.0.0.1', () => resolve());
    });
    const port = (tcpServer.address() as { port: number }).port;
    tcp = { server: tcpServer, address: `tcp://127.0.0.1:${port}`, token: randomBytes(32).toString('base64url') };
  }
  const idleTimer =
    options.lockAfterMs && options.lockAfterMs > 0
      ? setInterval(
          () => {
            if (!isLocked && Date.now() - lastUsed >= (options.lockAfterMs as number)) {
              lock();
              isLocked = true;
            }
          },
          Math.min(options.lockAfterMs, 1000),
        ).unref()
      : undefined;

  let closing: Promise<void> | undefined;
  let ended!: () => void;
  const closed = new Promise<void>((resolve) => (ended = resolve));
  handle = {
    socket: socketPath,
    tcp: tcp ? { address: tcp.address, token: tcp.token } : undefined,
    closed,
    close: () =>
      (closing ??= (async () => {
        if (idleTimer) clearInterval(idleTimer);
        for (const socket of connections) socket.destroy();
        await Promise.all([closeServer(server), tcp ? closeServer(tcp.server) : undefined]);
        await rm(folder, { recursive: true, force: true });
        lock();
        ended();
        options.onClose?.();
      })()),
  };
  return handle;
}

/**
 * A fresh folder only this user can enter: under `$XDG_RUNTIME_DIR` when it is this user's private folder,
 * else under loginkit's home. Refuses to start when the folder made is not private after all.
 */
async function privateFolder(env: EnvVars, home: string): Promise<string> {
  const runtime = env.XDG_RUNTIME_DIR;
  const parent = runtime && (await isPrivate(runtime)) ? runtime : home;
  const { ensurePrivateDir } = await import('../../shared/atomic-file.js');
  if (parent === home) await ensurePrivateDir(home);
  const folder = await mkdtemp(join(parent, 'loginkit-agent-'));
  await chmod(folder, 0o700);
  const made = lstatSync(folder);
  if (!made.isDirectory() || (made.mode & 0o077) !== 0 || made.uid !== process.getuid?.()) {
    throw new LoginkitError('storage', `The agent's folder ${folder} is not private to you; the agent does not start.`);
  }
  return folder;
}

async function isPrivate(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    return info.isDirectory() && info.uid === process.getuid?.() && (info.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Compares a presented secret with the expected one in constant time. */
export function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** An error as the client receives it: code and message (never a stack); the provider of a login_required. */
function errorBody(error: unknown): { code: string; message: string; provider?: string } {
  if (error instanceof LoginRequiredError) return { code: error.code, message: error.message, provider: error.providerId };
  if (error instanceof LoginkitError) return { code: error.code, message: error.message };
  return { code: 'internal', message: `The agent failed: ${error instanceof Error ? error.message : String(error)}` };
}

function stringParam(params: Record<string, unknown>, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || value === '') throw new LoginkitError('usage', `The agent needs "${name}".`);
  return value;
}

function optionalString(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function stringList(params: Record<string, unknown>, name: string): string[] {
  const value = params[name];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new LoginkitError('usage', `The agent needs "${name}".`);
  return value as string[];
}

function profileOf(params: Record<string, unknown>): { profile?: string } {
  const profile = optionalString(params, 'profile');
  return profile ? { profile } : {};
}

function choiceOf(params: Record<string, unknown>): { profile?: string; source?: 'store' } {
  return { ...profileOf(params), ...(params.source === 'store' ? { source: 'store' as const } : {}) };
}
