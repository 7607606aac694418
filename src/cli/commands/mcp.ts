import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { LoginkitError, type McpLoginOptions, type McpStatus } from '../../index.js';
import type { CliContext } from '../context.js';
import { createLoginView } from '../login-view.js';
import { EXIT, type Io, UsageError, printJson, say, writeData } from '../output.js';
import { METHOD_CHOICES, pasteInput, positiveSeconds } from '../sign-in-method.js';

interface LoginFlags {
  scope: string[];
  method?: (typeof METHOD_CHOICES)[number];
  browser: boolean;
  clientId?: string;
  withClientSecret?: boolean;
  clientCredentials?: boolean;
  privateKey?: string;
  alg?: 'ES256' | 'RS256';
  dpop?: boolean;
  timeout?: number;
  json?: boolean;
}

const DPOP_HELP = 'bind the tokens to a DPoP key (RFC 9449) even if the server does not ask for it';

/** `loginkit mcp login|check|status|token|logout`: OAuth for MCP servers. */
export function register(program: Command, ctx: CliContext): void {
  const mcp = program.command('mcp').description('sign in to MCP servers (OAuth for the Model Context Protocol)');

  mcp
    .command('login')
    .description('discover the server, register or use the configured client, and sign in')
    .argument('<url>', 'the MCP server URL')
    .argument('[secret]', 'never given here: secrets are read from stdin')
    .option('--scope <scope>', 'ask for this scope (repeatable; default: what the server asks for)', collect, [])
    .addOption(new Option('--method <method>', 'how to sign in (default auto)').choices(METHOD_CHOICES))
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .option('--client-id <id>', 'a client registered with the authorization server beforehand')
    .option('--with-client-secret', "read the client's secret from stdin (kept in the credential store)")
    .option('--client-credentials', 'machine to machine: the client_credentials grant, no person involved')
    .option('--private-key <file>', 'private_key_jwt: a PKCS #8 PEM key file (with --client-credentials)')
    .addOption(new Option('--alg <alg>', 'signing algorithm of --private-key').choices(['ES256', 'RS256']))
    .option('--dpop', DPOP_HELP)
    .addOption(new Option('--timeout <seconds>', 'give up after this many seconds (default 300)').argParser(positiveSeconds))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (url: string, secret: string | undefined, flags: LoginFlags) => {
      ctx.json(flags.json);
      if (secret !== undefined) {
        throw new UsageError(
          `Refusing a secret on the command line (other users can see it in the process list).\nUse: printf '%s' "$SECRET" | loginkit mcp login ${url} --client-id ID --with-client-secret`,
        );
      }
      const options = await loginOptions(ctx.io, url, flags);
      const view = await createLoginView(ctx.io, new URL(url).host);
      let status: McpStatus;
      try {
        status = await ctx
          .kit()
          .mcp(url, { ...options, onEvent: (event) => view.onEvent(event) })
          .login();
      } catch (error) {
        view.stop();
        throw error;
      }
      const done = `Signed in to the MCP server ${status.serverUrl} (authorization server ${status.issuer}${status.scopes.length ? `, scopes: ${status.scopes.join(' ')}` : ''}).`;
      view.stop(done);
      if (!ctx.io.stderr.isTTY) say(ctx.io, done);
      if (flags.json) printJson(ctx.io, status);
    });

  mcp
    .command('check')
    .description('connect with the MCP SDK (signing in first when needed), initialize, list the tools, optionally call one')
    .argument('<url>', 'the MCP server URL')
    .option('--call <tool>', 'call this tool after listing the tools')
    .option('--args <json>', 'arguments of --call, as a JSON object')
    .option('--dpop', `${DPOP_HELP} (when check signs in)`)
    .option('--json', 'print the result as JSON on stdout')
    .action(async (url: string, flags: { call?: string; args?: string; dpop?: boolean; json?: boolean }) => {
      ctx.json(flags.json);
      const args = parseArgs(flags.args);
      if (args && !flags.call) throw new UsageError('--args needs --call TOOL.');
      const interactive = canSignIn(ctx.io);
      const view = await createLoginView(ctx.io, new URL(url).host);
      const kit = ctx.kit();
      let result;
      try {
        result = await kit
          .mcp(url, {
            interactive,
            pasted: pasteInput('auto', ctx.io.stdin),
            onEvent: (event) => view.onEvent(event),
            ...(flags.dpop ? { dpop: true } : {}),
          })
          .check({ ...(flags.call ? { call: flags.call } : {}), ...(args ? { args } : {}) });
      } finally {
        view.stop();
      }
      say(
        ctx.io,
        `Connected to ${url}${result.server ? ` (${result.server.name} ${result.server.version})` : ''}: ${result.tools.length} tool(s): ${result.tools.join(', ')}.`,
      );
      if (result.call)
        say(
          ctx.io,
          `Called ${result.call.name}: ${result.call.isError ? 'the tool reported an error' : 'ok'}${result.call.text ? `: ${result.call.text}` : ''}`,
        );
      if (flags.json) printJson(ctx.io, result);
      if (result.call?.isError) ctx.exit(EXIT.failure);
    });

  mcp
    .command('status')
    .description('the MCP servers you are signed in to (or one of them: exit 3 when not signed in)')
    .argument('[url]', 'the MCP server URL')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (url: string | undefined, flags: { json?: boolean }) => {
      ctx.json(flags.json);
      const kit = ctx.kit();
      const found = url === undefined ? await kit.mcpStatus() : [await kit.mcp(url).status()].flatMap((s) => (s ? [s] : []));
      if (flags.json) printJson(ctx.io, { servers: found });
      for (const server of found) say(ctx.io, describeStatus(server));
      if (found.length === 0) {
        say(
          ctx.io,
          url === undefined
            ? 'Not signed in to any MCP server.'
            : `Not signed in to the MCP server ${url}.\nRun: loginkit mcp login ${url}`,
        );
        if (url !== undefined) ctx.exit(EXIT.loginRequired);
      }
    });

  mcp
    .command('token')
    .description('print the access token for an MCP server on stdout (refreshed first when due)')
    .argument('<url>', 'the MCP server URL')
    .action(async (url: string) => {
      const server = ctx.kit().mcp(url, { interactive: false });
      const token = await server.token();
      if (token === undefined)
        throw new LoginkitError('login_required', `Not signed in to the MCP server ${url}.\nRun: loginkit mcp login ${url}`);
      if ((await server.status())?.dpop)
        say(
          ctx.io,
          `This token is DPoP-bound (RFC 9449): it is accepted only with a DPoP proof signed by loginkit's key, not as a Bearer token.`,
        );
      writeData(ctx.io, `${token}\n`);
    });

  mcp
    .command('logout')
    .description('revoke the tokens for an MCP server and remove them')
    .argument('<url>', 'the MCP server URL')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (url: string, flags: { json?: boolean }) => {
      ctx.json(flags.json);
      const result = await ctx.kit().mcp(url).logout();
      if (result.revocation === 'not_signed_in') say(ctx.io, `Not signed in to the MCP server ${url}; nothing to do.`);
      else {
        const how =
          result.revocation === 'revoked'
            ? 'revoked at the server'
            : result.revocation === 'unsupported'
              ? 'the server offers no revocation'
              : `revocation failed: ${result.revocationError ?? 'unknown error'}`;
        say(ctx.io, `Logged out of the MCP server ${result.serverUrl} (${how}); the local credential was removed.`);
      }
      if (flags.json) printJson(ctx.io, result);
    });
}

async function loginOptions(io: Io, url: string, flags: LoginFlags): Promise<McpLoginOptions> {
  if ((flags.withClientSecret || flags.clientCredentials || flags.privateKey) && !flags.clientId) {
    throw new UsageError(`Name the client: loginkit mcp login ${url} --client-id ID …`);
  }
  if (flags.privateKey && flags.withClientSecret) throw new UsageError('Choose one: --with-client-secret or --private-key FILE.');
  if (flags.clientCredentials && !flags.privateKey && !flags.withClientSecret) {
    throw new UsageError(`--client-credentials needs --with-client-secret (secret on stdin) or --private-key FILE.`);
  }
  if ((flags.privateKey || flags.alg) && !flags.clientCredentials)
    throw new UsageError('--private-key and --alg go with --client-credentials.');
  const options: McpLoginOptions = {
    scopes: flags.scope,
    method: flags.method ?? 'auto',
    noBrowser: !flags.browser,
    ...(flags.dpop ? { dpop: true } : {}),
    ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout * 1000 }),
  };
  if (flags.clientId) options.clientId = flags.clientId;
  if (flags.withClientSecret) {
    if (io.stdin.isTTY)
      throw new UsageError(
        `Pipe the secret in: printf '%s' "$SECRET" | loginkit mcp login ${url} --client-id ${flags.clientId} --with-client-secret`,
      );
    const secret = (await readAll(io.stdin)).replace(/\r?\n$/, '');
    if (!secret) throw new UsageError('No client secret was given (stdin was empty).');
    options.clientSecret = secret;
  } else if (!flags.clientCredentials) {
    options.pasted = pasteInput(options.method ?? 'auto', io.stdin);
  }
  if (flags.clientCredentials) {
    options.clientCredentials = true;
    if (flags.privateKey) {
      options.privateKeyPem = await readFile(flags.privateKey, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`Cannot read the private key ${flags.privateKey} (${error.code ?? error.message}).`);
      });
      options.alg = flags.alg ?? (options.privateKeyPem.includes('RSA') ? 'RS256' : 'ES256');
    }
  }
  return options;
}

/** Whether `check` may start a sign-in: not in CI, and a browser or a terminal can reach the person. */
function canSignIn(io: Io): boolean {
  const env = io.env;
  if (env.CI && !/^(false|0|no)$/i.test(env.CI)) return false;
  return (
    io.stdin.isTTY === true ||
    Boolean(env.BROWSER || env.DISPLAY || env.WAYLAND_DISPLAY) ||
    process.platform === 'darwin' ||
    process.platform === 'win32'
  );
}

function describeStatus(server: McpStatus): string {
  const expiry = server.expiresAt ? `expires ${server.expiresAt}` : 'no expiry';
  const scopes = server.scopes.length ? `scopes: ${server.scopes.join(' ')}` : 'no scopes';
  return `${server.serverUrl}: signed in (${server.grant}) at ${server.issuer}, ${scopes}, ${expiry}${server.refreshable ? ', refreshable' : ''}${server.dpop ? ', DPoP-bound' : ''}`;
}

function parseArgs(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UsageError(`--args must be a JSON object, e.g. --args '{"query":"x"}'`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(/\s+/).filter(Boolean)];
}

async function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer | string));
  return Buffer.concat(chunks).toString('utf8');
}
