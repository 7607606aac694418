import type { LoginkitContext } from '../context.js';
import { LoginkitError, sanitizeServerText } from '../errors.js';
import type { FetchLike } from '../net/http.js';
import { bearerChallenge } from '../oauth/www-authenticate.js';
import { type McpLoginOptions, McpServer, type McpStatus, type McpLogoutResult, mcpLoginRequired } from './mcp.js';

/**
 * loginkit's side of one MCP server, shaped as the official SDK's `AuthProvider` (`token`, `onUnauthorized`),
 * so `new StreamableHTTPClientTransport(url, { authProvider: kit.mcp(url) })` works: loginkit does the
 * discovery, registration, sign-in, storage and refresh, the SDK only carries the token. For DPoP-bound
 * tokens and step-up on `insufficient_scope`, give the transport `fetch: kit.mcp(url).createFetch()` instead.
 */
export interface McpClient {
  /** The MCP server URL (canonical form). */
  readonly url: string;
  /** SDK AuthProvider: the current access token (refreshed when due), or undefined before any sign-in. */
  token(): Promise<string | undefined>;
  /** SDK AuthProvider: the server answered 401. Refreshes once, else signs in again (when interactive). */
  onUnauthorized(context: { response: Response }): Promise<void>;
  /** A fetch for this server that handles every challenge itself (401 refresh/sign-in, 403 step-up, DPoP). */
  createFetch(): FetchLike;
  /** Signs in now (discovery, client identity, the sign-in method, storage). */
  login(): Promise<McpStatus>;
  /** The stored sign-in, or undefined. */
  status(): Promise<McpStatus | undefined>;
  /** Revokes and removes the stored tokens. */
  logout(): Promise<McpLogoutResult>;
  /** Remembers the pre-registered client given in the options (`clientId`, `clientSecret`) for this server. */
  saveClient(): Promise<void>;
  /** Connects with the MCP SDK, initializes, lists the tools and optionally calls one. */
  check(options?: McpCheckOptions): Promise<McpCheckResult>;
}

/** What `check` should do beyond initialize and tools/list. */
export interface McpCheckOptions {
  call?: string;
  args?: Record<string, unknown>;
}

/** What `check` found. */
export interface McpCheckResult {
  server: { name: string; version: string } | undefined;
  protocolVersion: string | undefined;
  tools: string[];
  call?: { name: string; isError: boolean; text: string };
}

/** The McpClient of one server. */
export function mcpClient(ctx: LoginkitContext, url: string | URL, options: McpLoginOptions = {}): McpClient {
  const server = new McpServer(ctx, url, options);
  return {
    url: server.url.href,
    token: async () => {
      const credential = await server.credential();
      return credential ? server.token() : undefined;
    },
    onUnauthorized: async ({ response }) => {
      const challenge = bearerChallenge(response);
      const before = await server.credential();
      if (before?.refreshToken) {
        try {
          await server.refreshNow(before);
          const after = await server.credential();
          if (after && after.accessToken !== before.accessToken) return;
        } catch (error) {
          if (!(error instanceof LoginkitError) || error.code !== 'login_required') throw error;
        }
      }
      if (options.interactive === false) throw mcpLoginRequired(server.url, `The MCP server ${server.url.href} needs a sign-in.`);
      await server.login(challenge);
    },
    createFetch: () => server.createFetch(),
    login: async () => {
      await server.saveConfiguredClient();
      const credential = await server.login();
      const status = await server.status();
      if (!status) throw new LoginkitError('storage', `The sign-in to ${credential.mcp?.serverUrl ?? server.url.href} was not stored.`);
      return status;
    },
    status: () => server.status(),
    logout: () => server.logout(),
    saveClient: () => server.saveConfiguredClient(),
    check: (checkOptions) => checkServer(server, checkOptions ?? {}),
  };
}

/** Connects with the official MCP SDK through loginkit's fetch, initializes, lists tools, optionally calls one. */
async function checkServer(server: McpServer, options: McpCheckOptions): Promise<McpCheckResult> {
  const { Client, StreamableHTTPClientTransport } = await import('@modelcontextprotocol/client');
  const client = new Client({ name: 'loginkit', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(server.url, { fetch: server.createFetch() });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    const result: McpCheckResult = {
      server: client.getServerVersion()
        ? { name: client.getServerVersion()?.name ?? '', version: client.getServerVersion()?.version ?? '' }
        : undefined,
      protocolVersion: transport.protocolVersion,
      tools: tools.map((tool) => tool.name),
    };
    if (options.call) {
      const called = await client.callTool({ name: options.call, arguments: options.args ?? {} });
      const content = Array.isArray(called.content) ? called.content : [];
      const text = content.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n');
      result.call = { name: options.call, isError: called.isError === true, text: sanitizeServerText(text, 2000) };
    }
    return result;
  } finally {
    await client.close().catch(() => undefined);
  }
}
