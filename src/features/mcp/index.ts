// MCP servers' OAuth, one module per step: discovery, client identity, sign-in (interactive and machine),
// the fetch that refreshes and steps up, status and logout, and the SDK-facing client built on them.
export type { McpCheckOptions, McpCheckResult } from './check.js';
export { type McpClient, mcpClient } from './sdk-auth-provider.js';
export { mcpStatusAll } from './status-and-logout.js';
export type { McpLoginOptions, McpLogoutResult, McpStatus } from './types.js';
