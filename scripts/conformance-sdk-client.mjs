// A conformance client built only on the official MCP TypeScript SDK 1.x's own OAuth support, to measure
// that SDK side by side with loginkit (scripts/conformance-sdk.mjs runs it). It does what a typical
// application does with the SDK and nothing more: an in-memory OAuthClientProvider, the
// StreamableHTTPClientTransport, and on UnauthorizedError "send the person to the authorization URL",
// finishAuth(code), reconnect. The suite's authorization server approves at once, so "the person" is a
// fetch of the authorization URL that reads `code` from the 302 Location without following it.
// The runner appends the MCP server URL; MCP_CONFORMANCE_SCENARIO names the scenario and
// MCP_CONFORMANCE_CONTEXT carries pre-registered client credentials where a scenario has them.
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const serverUrl = new URL(process.argv.at(-1));
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || '{}');
const REDIRECT_URL = 'http://localhost:3000/callback';
// An application that publishes a Client ID Metadata Document names it; the SDK uses it only when the
// authorization server says it accepts one (the suite's CIMD scenario serves this URL).
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';

/** The whole OAuthClientProvider an application keeps in memory. */
class MemoryProvider {
  #client;
  #tokens;
  #verifier;
  pendingCode;
  clientMetadataUrl = CLIENT_METADATA_URL;

  constructor(client) {
    this.#client = client;
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: 'sdk-conformance-client',
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens) {
    this.#tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    if (!this.#verifier) throw new Error('no code verifier saved');
    return this.#verifier;
  }
  /** "Opens the browser": the suite's authorization server redirects straight back with the code. */
  async redirectToAuthorization(url) {
    const response = await fetch(url, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (!location) throw new Error(`authorization endpoint answered ${response.status} without a redirect`);
    const code = new URL(location).searchParams.get('code');
    if (!code) throw new Error(`no code in the redirect: ${location}`);
    this.pendingCode = code;
  }
}

function makeProvider() {
  switch (scenario) {
    case 'auth/client-credentials-basic':
      return new ClientCredentialsProvider({ clientId: context.client_id, clientSecret: context.client_secret });
    case 'auth/client-credentials-jwt':
      return new PrivateKeyJwtProvider({
        clientId: context.client_id,
        privateKey: context.private_key_pem,
        algorithm: context.signing_algorithm ?? 'ES256',
      });
    case 'auth/pre-registration':
      return new MemoryProvider({ client_id: context.client_id, client_secret: context.client_secret, redirect_uris: [REDIRECT_URL] });
    default:
      return new MemoryProvider(undefined);
  }
}

const provider = makeProvider();
let client;
let transport;

async function connect() {
  client = new Client({ name: 'sdk-conformance-client', version: '1.0.0' }, { capabilities: {} });
  transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  await client.connect(transport);
}

/** Runs an operation; when the SDK says the person must authorize, finishes that and reconnects. */
async function withSignIn(operation) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || !provider.pendingCode || attempt >= 1) throw error; // one retry, as applications typically do
      const code = provider.pendingCode;
      provider.pendingCode = undefined;
      await transport.finishAuth(code);
      await transport.close().catch(() => {});
      if (operation !== connect) await withSignIn(connect);
    }
  }
}

try {
  await withSignIn(connect);
  const { tools } = await withSignIn(() => client.listTools());
  if (tools.some((tool) => tool.name === 'test-tool')) await withSignIn(() => client.callTool({ name: 'test-tool', arguments: {} }));
  await transport.close();
} catch (error) {
  console.error(`sdk client: ${error?.stack ?? error}`);
  process.exit(1);
}
