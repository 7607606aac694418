import { LoginRequiredError, LoginkitError } from '../../errors.js';

/** The canonical form of an MCP server URL (no fragment); refuses anything but https or loopback http. */
export function canonicalServerUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new LoginkitError('usage', `"${String(url)}" is not a URL. Give the MCP server's URL, e.g. https://mcp.example.com/mcp`);
  }
  parsed.hash = '';
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new LoginkitError('usage', `The MCP server URL must use https (http only on localhost): ${parsed.href}`);
  }
  return parsed;
}

/** A login-required error (exit 3) whose fix is `loginkit mcp login <url>`. */
export function mcpLoginRequired(url: URL, reason: string): LoginRequiredError {
  const error = new LoginRequiredError(`mcp ${url.href}`, reason);
  error.message = `${reason}\nRun: loginkit mcp login ${url.href}`;
  return error;
}
