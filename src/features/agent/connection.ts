import { lstatSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { LoginRequiredError, LoginkitError } from '../../errors.js';
import { type AgentErrorBody, type AgentResponse, MAX_LINE_BYTES, REQUEST_TIMEOUT_MS } from './protocol.js';

// The client side of the agent: node:net and node:fs only, since `loginkit token` loads it on every call.

/** The agent cannot be reached (not running, or ended mid-request): callers may fall back to the store. */
export class AgentUnavailableError extends LoginkitError {
  constructor(where: string, why: string) {
    super('network', `loginkit agent at ${where} ${why}.\nStart one: eval "$(loginkit agent start)"; or unset LOGINKIT_AGENT_SOCK`);
    this.name = 'AgentUnavailableError';
  }
}

/** Where an agent listens: its Unix socket, or (for containers that cannot mount one) `tcp://127.0.0.1:<port>` and a token. */
export type AgentAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number; token: string };

/** Reads `LOGINKIT_AGENT_SOCK` (a socket path, or `tcp://127.0.0.1:<port>` with `LOGINKIT_AGENT_TOKEN`). */
export function agentAddress(value: string, token: string | undefined): AgentAddress {
  const tcp = /^tcp:\/\/(127\.0\.0\.1|\[::1\]|localhost):(\d{1,5})\/?$/.exec(value);
  if (tcp) {
    if (!token)
      throw new LoginkitError(
        'configuration',
        `LOGINKIT_AGENT_SOCK=${value} needs LOGINKIT_AGENT_TOKEN (printed by loginkit agent start --tcp).`,
      );
    return { kind: 'tcp', host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: Number(tcp[2]), token };
  }
  if (value.startsWith('tcp:'))
    throw new LoginkitError(
      'configuration',
      `LOGINKIT_AGENT_SOCK=${value}: a TCP agent listens on loopback only (tcp://127.0.0.1:<port>).`,
    );
  if (!value.startsWith('/'))
    throw new LoginkitError('configuration', 'LOGINKIT_AGENT_SOCK must be an absolute path (what loginkit agent start printed).');
  return { kind: 'unix', path: value };
}

/**
 * Refuses a socket another user could have made or could reach: its folder must be owned by this user and
 * closed to others (0700), the socket owned by this user. Node cannot ask a Unix socket who listens on it,
 * so these modes are the check. `absent` when there is no socket (no agent: the caller may fall back).
 */
export function checkAgentSocket(path: string): 'absent' | 'ok' {
  const uid = process.getuid?.();
  let socket;
  try {
    socket = lstatSync(path);
  } catch {
    return 'absent';
  }
  const folder = lstatSync(dirname(path));
  const refuse = (why: string): never => {
    throw new LoginkitError(
      'configuration',
      `Refusing the agent socket ${path}: ${why}.\nStart your own agent: eval "$(loginkit agent start)"`,
    );
  };
  if (!socket.isSocket()) refuse('it is not a socket');
  if (!folder.isDirectory()) refuse('its folder is not a folder');
  if (uid !== undefined && (folder.uid !== uid || socket.uid !== uid)) refuse('it belongs to another user');
  if ((folder.mode & 0o077) !== 0) refuse(`its folder is open to other users (mode ${(folder.mode & 0o777).toString(8)}; must be 700)`);
  return 'ok';
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One connection to the agent, opened on first use, kept open and pipelined (requests answered as they
 * complete); it does not keep the process alive while nothing is pending.
 */
export class AgentConnection {
  private socket: Socket | undefined;
  private ready: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private outbox: string[] = [];
  /** Called once when the connection ends while it was open (the agent stopped or died). */
  onClose: (() => void) | undefined;

  constructor(readonly address: AgentAddress) {}

  /** Where the agent is, for messages. */
  get where(): string {
    return this.address.kind === 'unix' ? this.address.path : `tcp://${this.address.host}:${this.address.port}`;
  }

  /** Sends one request and resolves with its result; rejects with the agent's error, or AgentUnavailableError. */
  async request<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const socket = await this.open();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.idle();
        reject(new AgentUnavailableError(this.where, `did not answer ${method} within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      socket.ref();
      this.send(socket, `${JSON.stringify({ id, method, params })}\n`);
    });
  }

  /** Queues `line`; the lines queued in one turn go out in one write (many callers' requests pipelined). */
  private send(socket: Socket, line: string): void {
    this.outbox.push(line);
    if (this.outbox.length > 1) return;
    queueMicrotask(() => {
      const lines = this.outbox.join('');
      this.outbox = [];
      if (!socket.destroyed) socket.write(lines);
    });
  }

  /** Closes the connection (what it holds in the agent, a brokered child's capability, ends with it). */
  close(): void {
    this.socket?.destroy();
  }

  private open(): Promise<Socket> {
    this.ready ??= this.connect();
    return this.ready;
  }

  private async connect(): Promise<Socket> {
    if (this.address.kind === 'unix' && checkAgentSocket(this.address.path) === 'absent') {
      throw new AgentUnavailableError(this.where, 'is not running (no socket there)');
    }
    // Loaded here, not at the top: `loginkit token` without an agent must not load node:net.
    const { connect } = await import('node:net');
    return new Promise<Socket>((resolve, reject) => {
      const socket =
        this.address.kind === 'unix' ? connect(this.address.path) : connect({ host: this.address.host, port: this.address.port });
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        this.socket = socket;
        if (this.address.kind === 'tcp')
          socket.write(`${JSON.stringify({ id: 0, method: 'hello', params: { token: this.address.token } })}\n`);
        resolve(socket);
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!this.socket) reject(new AgentUnavailableError(this.where, `is not answering (${error.code ?? error.message})`));
      });
      socket.on('data', (chunk: string) => this.receive(chunk));
      socket.on('close', () => this.closed());
    });
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    if (this.buffered.length > MAX_LINE_BYTES * 4) return void this.socket?.destroy();
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      this.answer(line);
      newline = this.buffered.indexOf('\n');
    }
  }

  private answer(line: string): void {
    let response: AgentResponse;
    try {
      response = JSON.parse(line) as AgentResponse;
    } catch {
      return void this.socket?.destroy();
    }
    const pending = this.pending.get(response.id);
    if (!pending) return;
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    this.idle();
    if ('error' in response) pending.reject(agentError(response.error));
    else pending.resolve(response.result);
  }

  private idle(): void {
    if (this.pending.size === 0) this.socket?.unref();
  }

  private closed(): void {
    const wasOpen = this.socket !== undefined;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new AgentUnavailableError(this.where, 'ended before it answered'));
      this.pending.delete(id);
    }
    this.ready = Promise.reject(new AgentUnavailableError(this.where, 'has ended'));
    this.ready.catch(() => undefined);
    this.socket = undefined;
    if (wasOpen) this.onClose?.();
  }
}

/** The agent's error as the error the library would have thrown itself. */
function agentError(body: AgentErrorBody): LoginkitError {
  const message = String(body.message);
  if (body.code === 'login_required' && body.provider) return Object.assign(new LoginRequiredError(body.provider, ''), { message });
  return new LoginkitError((body.code as LoginkitError['code']) ?? 'configuration', message);
}
