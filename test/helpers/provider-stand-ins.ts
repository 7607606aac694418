// One real HTTP server on 127.0.0.1 that plays the key-validation endpoint of every built-in provider,
// checking what the real service checks: the header name and scheme, Anthropic's version header, the
// exact path and query, and one good key per provider. Point a provider at `baseUrlFor(id)`.
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { BUILTIN_PROVIDERS, type ApiKeySpec } from '../../src/providers/catalog.js';
import { startHttpServer } from './stand-in.js';

/** What the stand-ins saw of one request: never a key or other header value. */
export interface RecordedRequest {
  provider: string;
  method: string;
  /** Path and query after the provider's prefix, with credential-like query values redacted. */
  path: string;
  /** Lower-cased names of the request headers. */
  headerNames: string[];
}

/** The running stand-ins. */
export interface ProviderStandIns {
  /** Origin of the server, e.g. 'http://127.0.0.1:41234'. */
  url: string;
  /** The base URL to configure for provider `id`: `${url}/${id}` plus the path of its default base URL. */
  baseUrlFor(id: string): string;
  /** The one key the stand-in for `id` accepts; it matches the provider's key format. */
  goodKeyFor(id: string): string;
  /** A key in the right format that the stand-in for `id` rejects. */
  badKeyFor(id: string): string;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: unknown;
}

/** How one real service answers: its key shape, its success body, and its three kinds of refusal. */
interface ServiceBehaviour {
  sampleKey(): string;
  okBody: unknown;
  /** No credential header at all. */
  missing: Reply;
  /** A credential in the wrong form: no "Bearer ", or a bearer token where a key header is expected. */
  malformed: Reply;
  /** The right form with a key the service does not know. */
  invalid: Reply;
  /** A required extra header (anthropic-version) is missing or wrong. */
  badExtraHeader?: Reply;
}

const HEX = '0123456789abcdef';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const URLSAFE = `${ALNUM}-_`;

/** Random characters, so that no key-shaped literal sits in the repository for secret scanners to flag. */
function chars(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

function openAiError(message: string, code: string | null): Reply {
  return { status: 401, body: { error: { message, type: 'invalid_request_error', param: null, code } } };
}

function openAiModelList(owner: string, ids: string[]): unknown {
  return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: owner })) };
}

const NO_KEY = openAiError("You didn't provide an API key. Provide it in an Authorization header (Bearer <key>).", null);
const WRONG_KEY = openAiError('Incorrect API key provided.', 'invalid_api_key');

/** Services that answer like OpenAI: 401 for a missing, malformed or unknown bearer key. */
function openAiLike(sampleKey: () => string, okBody: unknown): ServiceBehaviour {
  return { sampleKey, okBody, missing: NO_KEY, malformed: NO_KEY, invalid: WRONG_KEY };
}

const BEHAVIOURS: Readonly<Record<string, ServiceBehaviour>> = {
  openai: openAiLike(() => `sk-proj-${chars(URLSAFE, 156)}`, openAiModelList('openai', ['gpt-4.1-mini'])),
  anthropic: {
    sampleKey: () => `sk-ant-api03-${chars(URLSAFE, 93)}AA`,
    okBody: {
      data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }],
      has_more: false,
      first_id: 'claude-sonnet-4-5',
      last_id: 'claude-sonnet-4-5',
    },
    missing: anthropicError(401, 'authentication_error', 'x-api-key header is required'),
    malformed: anthropicError(401, 'authentication_error', 'invalid x-api-key'),
    invalid: anthropicError(401, 'authentication_error', 'invalid x-api-key'),
    badExtraHeader: anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required'),
  },
  gemini: {
    sampleKey: () => `AIza${chars(URLSAFE, 35)}`,
    okBody: { models: [{ name: 'models/gemini-2.5-flash', displayName: 'Gemini 2.5 Flash' }] },
    missing: googleError(
      403,
      'PERMISSION_DENIED',
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    ),
    malformed: googleError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    ),
    invalid: googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', 'API_KEY_INVALID'),
  },
  mistral: {
    sampleKey: () => chars(ALNUM, 32),
    okBody: openAiModelList('mistralai', ['mistral-small-latest']),
    missing: { status: 401, body: { message: 'Unauthorized', request_id: 'stand-in' } },
    malformed: { status: 401, body: { message: 'Unauthorized', request_id: 'stand-in' } },
    invalid: { status: 401, body: { message: 'Unauthorized', request_id: 'stand-in' } },
  },
  groq: openAiLike(() => `gsk_${chars(ALNUM, 52)}`, openAiModelList('Meta', ['llama-3.3-70b-versatile'])),
  xai: {
    sampleKey: () => `xai-${chars(ALNUM, 80)}`,
    okBody: openAiModelList('xai', ['grok-4']),
    missing: { status: 401, body: { code: 'Unauthenticated', error: 'No authorization header was provided.' } },
    malformed: { status: 401, body: { code: 'Unauthenticated', error: 'Invalid authorization token.' } },
    // xAI documents 400 for an incorrect API key.
    invalid: {
      status: 400,
      body: {
        code: 'Client specified an invalid argument',
        error: 'Incorrect API key provided. You can obtain an API key from https://console.x.ai.',
      },
    },
  },
  deepseek: openAiLike(() => `sk-${chars(HEX, 32)}`, openAiModelList('deepseek', ['deepseek-chat'])),
  openrouter: {
    sampleKey: () => `sk-or-v1-${chars(HEX, 64)}`,
    okBody: { data: { label: 'sk-or-v1-…', limit: null, usage: 0, is_free_tier: false } },
    missing: { status: 401, body: { error: { message: 'No auth credentials found', code: 401 } } },
    malformed: { status: 401, body: { error: { message: 'No auth credentials found', code: 401 } } },
    invalid: { status: 401, body: { error: { message: 'User not found.', code: 401 } } },
  },
  // Together lists models as a bare array.
  together: openAiLike(() => chars(HEX, 64), [{ id: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', object: 'model', type: 'chat' }]),
  fireworks: openAiLike(() => `fw_${chars(ALNUM, 24)}`, openAiModelList('fireworks', ['accounts/fireworks/models/llama-v3p1-8b-instruct'])),
  cohere: {
    sampleKey: () => chars(ALNUM, 40),
    okBody: { models: [{ name: 'command-a-03-2025', endpoints: ['chat'] }] },
    missing: { status: 401, body: { message: 'no api key supplied' } },
    malformed: { status: 401, body: { message: 'invalid api token' } },
    invalid: { status: 401, body: { message: 'invalid api token' } },
  },
  perplexity: openAiLike(() => `pplx-${chars(ALNUM, 48)}`, { requests: [], next_token: null }),
  huggingface: {
    sampleKey: () => `hf_${chars(LETTERS, 34)}`,
    okBody: { type: 'user', name: 'stand-in', auth: { type: 'access_token', accessToken: { displayName: 'loginkit', role: 'read' } } },
    missing: { status: 401, body: { error: 'Invalid username or password.' } },
    malformed: { status: 401, body: { error: 'Invalid username or password.' } },
    invalid: { status: 401, body: { error: 'Invalid credentials in Authorization header' } },
  },
  'azure-openai': {
    sampleKey: () => chars(HEX, 32),
    okBody: { object: 'list', data: [{ id: 'gpt-4o', object: 'model', status: 'succeeded', lifecycle_status: 'generally-available' }] },
    missing: azureError(
      'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.',
    ),
    malformed: azureError(
      'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.',
    ),
    invalid: azureError(
      'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
    ),
  },
};

function anthropicError(status: number, type: string, message: string): Reply {
  return { status, body: { type: 'error', error: { type, message } } };
}

function googleError(status: number, grpcStatus: string, message: string, reason?: string): Reply {
  const details = reason ? [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com' }] : undefined;
  return { status, body: { error: { code: status, message, status: grpcStatus, ...(details ? { details } : {}) } } };
}

function azureError(message: string): Reply {
  return { status: 401, body: { error: { code: '401', message } } };
}

interface Player {
  spec: ApiKeySpec;
  behaviour: ServiceBehaviour;
  goodKey: string;
  badKey: string;
  /** Path and query the request must have after `/${id}`. */
  expectedPath: string;
}

/** Starts one server that answers for every catalog provider with an API key. */
export async function startProviderStandIns(): Promise<ProviderStandIns> {
  const players = new Map<string, Player>();
  for (const provider of BUILTIN_PROVIDERS) {
    if (!provider.apiKey) continue;
    const behaviour = BEHAVIOURS[provider.id];
    if (!behaviour) throw new Error(`provider-stand-ins: no stand-in behaviour for "${provider.id}"; add one`);
    const spec = provider.apiKey;
    if (!spec.validation.rejectedStatuses.includes(behaviour.invalid.status)) {
      throw new Error(`provider-stand-ins: "${provider.id}" rejects with ${behaviour.invalid.status}, not a catalog rejection status`);
    }
    const goodKey = behaviour.sampleKey();
    let badKey = behaviour.sampleKey();
    while (badKey === goodKey) badKey = behaviour.sampleKey();
    players.set(provider.id, { spec, behaviour, goodKey, badKey, expectedPath: basePath(spec) + spec.validation.path });
  }

  const requests: RecordedRequest[] = [];
  const server = await startHttpServer((req, res) => answer(players, requests, req, res));

  const player = (id: string): Player => {
    const found = players.get(id);
    if (!found) throw new Error(`provider-stand-ins: unknown provider "${id}"`);
    return found;
  };
  return {
    url: server.url,
    baseUrlFor: (id) => `${server.url}/${id}${basePath(player(id).spec)}`,
    goodKeyFor: (id) => player(id).goodKey,
    badKeyFor: (id) => player(id).badKey,
    requests,
    close: () => server.close(),
  };
}

/** The path part of the provider's default base URL, without a trailing slash ('' for a bare origin). */
function basePath(spec: ApiKeySpec): string {
  return new URL(spec.defaultBaseUrl).pathname.replace(/\/+$/, '');
}

function answer(players: Map<string, Player>, requests: RecordedRequest[], req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const [, id = '', ...rest] = url.pathname.split('/');
  const path = `/${rest.join('/')}${url.search}`;
  requests.push({ provider: id, method: req.method ?? '', path: redactQuery(path), headerNames: Object.keys(req.headers).sort() });

  const player = players.get(id);
  if (!player || req.method !== player.spec.validation.method || path !== player.expectedPath) {
    reply(res, { status: 404, body: { error: { message: 'Not found', type: 'not_found_error' } } });
    return;
  }
  reply(res, judge(player, req));
}

/** Decides the answer the real service would give to this request. */
function judge({ spec, behaviour, goodKey }: Player, req: IncomingMessage): Reply {
  const header = spec.header.name.toLowerCase();
  const raw = req.headers[header];
  if (typeof raw !== 'string' || raw === '') {
    // A bearer token sent to a service that wants a key header is read as an OAuth token, and refused.
    return header !== 'authorization' && req.headers.authorization !== undefined ? behaviour.malformed : behaviour.missing;
  }
  const key = spec.header.scheme ? tokenAfterScheme(raw, spec.header.scheme) : raw;
  if (key === undefined) return behaviour.malformed;
  if (key !== goodKey) return behaviour.invalid;

  for (const [name, value] of Object.entries(spec.extraHeaders ?? {})) {
    if (req.headers[name.toLowerCase()] !== value) {
      return behaviour.badExtraHeader ?? { status: 400, body: { error: `${name} header is required` } };
    }
  }
  return { status: spec.validation.okStatuses[0] ?? 200, body: behaviour.okBody };
}

/** The token of `<scheme> <token>` (the scheme is case-insensitive, RFC 9110), or undefined. */
function tokenAfterScheme(value: string, scheme: string): string | undefined {
  const match = /^(\S+) +(\S+)$/.exec(value);
  return match && match[1]!.toLowerCase() === scheme.toLowerCase() ? match[2] : undefined;
}

function reply(res: ServerResponse, { status, body }: Reply): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Keeps query names but hides values that could be credentials (Google also accepts ?key=). */
function redactQuery(path: string): string {
  const queryAt = path.indexOf('?');
  if (queryAt === -1) return path;
  const params = new URLSearchParams(path.slice(queryAt + 1));
  for (const name of [...params.keys()]) {
    if (/key|token|secret|auth/i.test(name)) params.set(name, 'REDACTED');
  }
  return `${path.slice(0, queryAt)}?${params.toString()}`;
}
