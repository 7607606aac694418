import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoginkitContext, type LoginkitOptions, createContext } from '../../context.js';
import { ConfigError, LoginRequiredError, LoginkitError } from '../../errors.js';
import { ensurePrivateDir } from '../../shared/atomic-file.js';
import type { EnvVars } from '../../shared/home.js';
import type { PassphraseProvider } from '../../store/passphrase-key.js';
import type { Provider } from '../../providers/registry.js';
import { execEnvironment, getTokenInfo, secretFor } from '../credentials.js';
import { knownProvider } from '../known-provider.js';
import { status } from '../status.js';
import { type Capability, Capabilities } from './broker.js';
import { CLOUD_ENDPOINTS, cloudEndpoint } from './cloud-endpoints.js';
import { type AgentRequest, type AgentStatus, MAX_LINE_BYTES } from './protocol.js';
import { startChildListener } from './child-listener.js';
import { type EndpointAnswer, type Proxy, type UpstreamRoute, startProxy } from './proxy.js';

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
/** Longest parent folder for the agent's folder, so that `<parent>/loginkit-agent-XXXXXX/agent.sock` fits a socket address. */
const MAX_PARENT_LENGTH = 80;

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
  const auditLog = join(baseContext().home, 'agent-audit.jsonl');
  const capabilities = new Capabilities();
  const profileIn = (capability: Capability, id: string): string | undefined => capability.providers.get(id)?.profile;
  const cwdIn = (capability: Capability, id: string): string | undefined => capability.providers.get(id)?.cwd;
  const proxy: Proxy = await startProxy({
    capabilities,
    auditLog,
    keyHeader: async (id) =>
      (
        await baseContext()
          .providers.findKnown(id)
          .catch(() => undefined)
      )?.apiKey?.header,
    upstream: async (id, capability) => upstreamOf(contextFor(cwdIn(capability, id)), id, profileIn(capability, id)),
    cloud: async (type, id, request) => {
      const endpoint = cloudEndpoint(type);
      const presented = endpoint?.ownListener ? undefined : endpoint?.presented(request);
      const capability = presented === undefined ? undefined : capabilities.find(presented, id);
      return answerCloud(type, id, capability, request);
    },
  });
  /** A cloud endpoint's answer to a request that came with `capability` (undefined: none live). */
  const answerCloud = async (
    type: string,
    id: string,
    capability: Capability | undefined,
    request: IncomingMessage,
  ): Promise<EndpointAnswer> => {
    const endpoint = cloudEndpoint(type);
    if (!endpoint || !capability) return { status: 401, body: { message: 'loginkit agent: not a live capability for this provider' } };
    const ctx = contextFor(cwdIn(capability, id));
    const provider = await ctx.providers.find(id);
    if (provider.cloud?.type !== type) return { status: 404, body: { message: 'loginkit agent: no such endpoint' } };
    try {
      return await endpoint.answer(ctx, provider, profileIn(capability, id), request);
    } catch (error) {
      return { status: 503, body: { message: error instanceof LoginkitError ? error.message : 'loginkit agent: no credentials' } };
    }
  };
  /** A listener of the child's own for a cloud whose SDK sends no capability; it closes when the capability ends. */
  const childListener = async (capability: Capability, type: string, id: string): Promise<string> => {
    const listener = await startChildListener(async (request) =>
      // Served only while the capability that made it is live (its close below may lag a request in flight).
      answerCloud(type, id, capabilities.find(capability.secret, id), request),
    );
    capabilities.onEnd(capability.child, () => void listener.close());
    return listener.origin;
  };
  /** A new capability for the providers in `params`, and the variables that hand it to the child. */
  const openCapability = async (
    params: Record<string, unknown>,
  ): Promise<{ child: string; variables: Record<string, string>; unset: string[] }> => {
    const ids = stringList(params, 'providers');
    const profile = optionalString(params, 'profile');
    const cwd = optionalString(params, 'cwd');
    const ttlSeconds = typeof params.ttlSeconds === 'number' && params.ttlSeconds > 0 ? params.ttlSeconds : undefined;
    const ctx = contextFor(cwd);
    const capability = capabilities.open(new Map(ids.map((id) => [id, { profile, cwd }])), ttlSeconds && ttlSeconds * 1000, Date.now());
    try {
      const variables: Record<string, string> = {};
      const unset = new Set<string>();
      for (const id of ids) {
        const made = await brokeredVariables(ctx, await ctx.providers.find(id), profile, proxy.origin, capability, childListener);
        Object.assign(variables, made.variables);
        for (const name of made.unset) unset.add(name);
      }
      return { child: capability.child, variables, unset: [...unset] };
    } catch (error) {
      capabilities.end(capability.child);
      throw error;
    }
  };
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
      auditLog,
      proxy: proxy.origin,
      tcp: tcp?.address ?? null,
      locked: isLocked,
      children: capabilities.list(),
    }),
    'broker.open': async (params, connection) => {
      const opened = await openCapability(params);
      // The capability ends with the connection of the `exec` that asked for it, at the latest.
      connection.onEnd.push(() => capabilities.end(opened.child));
      return opened;
    },
    'broker.child': async (params) => {
      const capability = capabilities.child(stringParam(params, 'child'));
      if (capability && typeof params.pid === 'number') capability.pid = params.pid;
      return {};
    },
    'broker.close': async (params) => {
      capabilities.end(stringParam(params, 'child'));
      return {};
    },
    'agent.lock': async () => {
      lock();
      isLocked = true;
      return {};
    },
    'agent.unlock': async (params) => {
      const passphrase = optionalString(params, 'passphrase');
      // Without a passphrase, a store that needs one says so; a keychain or file store just opens again.
      unlockWith = async () => {
        if (passphrase) return passphrase;
        throw new LoginkitError(
          'configuration',
          'The store needs its passphrase: run loginkit agent unlock in a terminal, or with LOGINKIT_PASSPHRASE set.',
        );
      };
      lock();
      try {
        await unlock();
      } finally {
        unlockWith = undefined;
      }
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
        capabilities.clear();
        await Promise.all([closeServer(server), tcp ? closeServer(tcp.server) : undefined, proxy.close()]);
        await rm(folder, { recursive: true, force: true });
        lock();
        ended();
        options.onClose?.();
      })()),
  };
  return handle;
}

/**
 * What a brokered child gets for `provider`: for an API key, the base-URL variable pointing at the proxy
 * and the capability in the key variables; for a sign-in, a fresh access token (never the refresh token);
 * for a cloud, its credential endpoint. A key whose SDK reads no base-URL variable cannot be brokered.
 */
async function brokeredVariables(
  ctx: LoginkitContext,
  provider: Provider,
  profile: string | undefined,
  origin: string,
  capability: Capability,
  listen: (capability: Capability, type: string, id: string) => Promise<string>,
): Promise<{ variables: Record<string, string>; unset: readonly string[] }> {
  if (provider.cloud) {
    const endpoint = CLOUD_ENDPOINTS[provider.cloud.type];
    const url = endpoint.ownListener
      ? await listen(capability, provider.cloud.type, provider.id)
      : `${origin}/cloud/${provider.cloud.type}/${provider.id}`;
    return { variables: await endpoint.variables(ctx, provider, profile, url, capability.secret), unset: endpoint.unset };
  }
  const secret = await secretFor(ctx, provider.id, profile ? { profile } : {});
  const settings = provider.apiKey;
  const proxied = (): Record<string, string> => {
    const variables: Record<string, string> = { [settings?.baseUrlEnvVar as string]: `${origin}/${provider.id}` };
    for (const name of settings?.envVars ?? []) variables[name] = capability.secret;
    return variables;
  };
  if (secret.source === 'store' && secret.credential.kind === 'oauth') {
    const variables = { [provider.accessTokenEnvVar]: secret.credential.accessToken };
    // A key obtained with the sign-in (ChatGPT's token exchange) goes through the proxy like any stored key.
    return { variables: secret.credential.apiKey && settings?.baseUrlEnvVar ? { ...variables, ...proxied() } : variables, unset: [] };
  }
  if (!settings?.baseUrlEnvVar) {
    throw new ConfigError(
      `"${provider.id}"'s SDK reads no base-URL variable, so its key cannot be brokered through the agent; use: loginkit exec ${provider.id} -- …`,
    );
  }
  return { variables: proxied(), unset: [] };
}

/** Where a brokered provider's requests go, with the key the agent holds for it. */
async function upstreamOf(ctx: LoginkitContext, id: string, profile: string | undefined): Promise<UpstreamRoute> {
  const provider = await ctx.providers.find(id);
  const settings = provider.apiKey;
  if (!settings) throw new ConfigError(`"${id}" takes no API key.`);
  const secret = await secretFor(ctx, id, profile ? { profile } : {});
  const key =
    secret.source === 'cloud'
      ? undefined
      : secret.source !== 'store'
        ? secret.value
        : secret.credential.kind === 'api_key'
          ? secret.credential.key
          : secret.credential.apiKey;
  if (!key) throw new ConfigError(`No API key for "${id}".`);
  return { base: new URL(settings.baseUrlOverride ?? settings.defaultBaseUrl), header: settings.header, key };
}

/**
 * A fresh folder only this user can enter: under `$XDG_RUNTIME_DIR` when it is this user's private folder,
 * else under loginkit's home (or the temporary folder, for a home too deep for a socket address). Refuses to start when the folder made is not private after all.
 */
async function privateFolder(env: EnvVars, home: string): Promise<string> {
  const runtime = env.XDG_RUNTIME_DIR;
  // A Unix socket's path holds at most ~104 bytes: a deep home gives way to the system's temporary folder.
  const parent = runtime && (await isPrivate(runtime)) ? runtime : home.length <= MAX_PARENT_LENGTH ? home : tmpdir();
  // The home holds the audit log, wherever the socket goes.
  await ensurePrivateDir(home);
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
function sameSecret(presented: string, expected: string): boolean {
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
