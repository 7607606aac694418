import { sanitizeServerText } from '../../errors.js';
import type { FetchLike } from '../../net/http.js';
import { importOptional } from '../../shared/optional-dependency.js';

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

/** Connects with the official MCP SDK through loginkit's fetch, initializes, lists tools, optionally calls one. */
export async function checkServer(url: URL, fetch: FetchLike, options: McpCheckOptions): Promise<McpCheckResult> {
  // Loaded only here: the SDK is for `mcp check` and applications, not for every sign-in.
  const { Client, StreamableHTTPClientTransport } = await importOptional(
    '@modelcontextprotocol/client',
    'Checking an MCP server',
    () => import('@modelcontextprotocol/client'),
  );
  const client = new Client({ name: 'loginkit', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(url, { fetch });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    const server = client.getServerVersion();
    // Everything the server names reaches a terminal: no control characters.
    const result: McpCheckResult = {
      server: server
        ? { name: sanitizeServerText(server.name ?? '', 200), version: sanitizeServerText(server.version ?? '', 100) }
        : undefined,
      protocolVersion: transport.protocolVersion === undefined ? undefined : sanitizeServerText(transport.protocolVersion, 40),
      tools: tools.map((tool) => sanitizeServerText(tool.name, 200)),
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
