// The agent's wire format, shared by the server and its clients: one JSON object per line each way,
// `{id, method, params}` → `{id, result}` or `{id, error: {code, message, provider?}}`. Requests are
// answered as they complete, so a client may pipeline many on one connection.

/** The longest line either side accepts; a longer one ends the connection. */
export const MAX_LINE_BYTES = 64 * 1024;

/** How long a client waits for one answer (a refresh under another process's lock can take a while). */
export const REQUEST_TIMEOUT_MS = 90_000;

/** The variable that points clients at the agent's socket (no default path: only this finds an agent). */
export const AGENT_SOCK_VARIABLE = 'LOGINKIT_AGENT_SOCK';

/** Set to `1`: when the agent cannot be reached, fail (exit 1) instead of falling back to the store. */
export const AGENT_ONLY_VARIABLE = 'LOGINKIT_AGENT_ONLY';

/** One request. */
export interface AgentRequest {
  id: number;
  method: string;
  params?: Record<string, unknown>;
}

/** An error as the agent sends it. */
export interface AgentErrorBody {
  code: string;
  message: string;
  provider?: string;
}

/** One answer. */
export type AgentResponse = { id: number; result: unknown } | { id: number; error: AgentErrorBody };

/** `token`'s answer: the token the agent holds, and the variables that win over it in the client's environment. */
export interface AgentTokenAnswer {
  token?: string;
  expiresAt?: number | null;
  type?: 'oauth' | 'api_key';
  /** The provider's key variables (names only): set in the client's environment, they win, as without the agent. */
  envVars: string[];
}

/** A brokered child as `agent status` lists it. */
export interface BrokeredChild {
  /** A short id for the audit log (not the capability). */
  child: string;
  pid: number | null;
  providers: string[];
  /** ms since the epoch when the capability ends by `--ttl`; null when only the child's exit ends it. */
  expiresAt: number | null;
}

/** `agent status`'s answer. */
export interface AgentStatus {
  pid: number;
  socket: string;
  auditLog: string;
  proxy: string;
  tcp: string | null;
  locked: boolean;
  children: BrokeredChild[];
}
