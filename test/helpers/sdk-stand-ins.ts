// The model APIs the official SDKs talk to, on one loopback server, checking what the real services check:
// OpenAI (`/openai/v1`: Bearer key, 401 with its error body), Anthropic (`/anthropic/v1`: `x-api-key` and
// `anthropic-version`, 401 `authentication_error`), Gemini (`/gemini/v1beta`: `x-goog-api-key`, 400
// `API_KEY_INVALID` as Google answers). Each records the headers it saw, for tests to assert on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { type HttpServerHandle, startHttpServer } from './stand-in.js';

/** One request as the stand-in saw it. */
export interface SeenRequest {
  service: 'openai' | 'anthropic' | 'gemini';
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

/** The running stand-ins. */
export interface SdkStandIns extends HttpServerHandle {
  /** Keys (and tokens) each service accepts; tests add and remove. */
  accepted: Set<string>;
  /** Tokens refused whatever else says (revoked at the API). */
  revoked: Set<string>;
  /** Between the chunks of a streamed answer (`stream: true`), ms: what arrives when shows whether a proxy buffers. */
  streamGapMs: number;
  /** Answer OpenAI's model list gzip-compressed when the client accepts it (Content-Encoding must match the body a proxy passes on). */
  gzip: boolean;
  /** Also accept a Bearer token that this returns true for (an OAuth access token checked at the issuer). */
  acceptToken: (token: string) => Promise<boolean>;
  requests: SeenRequest[];
}

/** Starts the stand-ins; `accepted` starts empty. */
export async function startSdkStandIns(): Promise<SdkStandIns> {
  const state: State = {
    accepted: new Set<string>(),
    revoked: new Set<string>(),
    acceptToken: async () => false,
    requests: [],
    streamGapMs: 0,
    gzip: false,
  };
  // The handler reads `state` on every request, so tests change what is accepted on the returned object.
  const server = await startHttpServer((req, res) => void handle(state, req, res));
  return Object.assign(state, server);
}

type State = Pick<SdkStandIns, 'accepted' | 'revoked' | 'acceptToken' | 'requests' | 'streamGapMs' | 'gzip'>;

async function handle(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const streamed = isStreamRequest(Buffer.concat(chunks).toString('utf8'));
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const service = path.split('/')[1];
  if (service !== 'openai' && service !== 'anthropic' && service !== 'gemini') return send(res, 404, { error: 'no such service' });
  state.requests.push({ service, method: req.method ?? '', path, headers: req.headers });
  if (service === 'openai') return openai(state, req, res, path, streamed);
  if (service === 'anthropic') return anthropic(state, req, res, path, streamed);
  return gemini(state, req, res, path);
}

async function openai(state: State, req: IncomingMessage, res: ServerResponse, path: string, streamed: boolean): Promise<void> {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!token || state.revoked.has(token) || !(state.accepted.has(token) || (await state.acceptToken(token)))) {
    return send(res, 401, {
      error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
    });
  }
  if (req.method === 'GET' && path === '/openai/v1/models') {
    const list = { object: 'list', data: [{ id: 'gpt-test', object: 'model', created: 1_700_000_000, owned_by: 'stand-in' }] };
    if (state.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding']))) {
      return void res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(JSON.stringify(list)));
    }
    return send(res, 200, list);
  }
  if (req.method === 'POST' && path === '/openai/v1/chat/completions' && streamed) {
    const chunk = (delta: object, finish: string | null): object => ({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'gpt-test',
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    return sendEvents(state, res, [
      { data: chunk({ role: 'assistant', content: 'hello ' }, null) },
      { data: chunk({ content: 'from ' }, null) },
      { data: chunk({ content: 'openai' }, null) },
      { data: chunk({}, 'stop') },
      { data: '[DONE]' },
    ]);
  }
  if (req.method === 'POST' && path === '/openai/v1/chat/completions') {
    return send(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gpt-test',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'hello from openai', refusal: null }, finish_reason: 'stop', logprobs: null },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
    });
  }
  send(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
}

function anthropic(state: State, req: IncomingMessage, res: ServerResponse, path: string, streamed: boolean): void {
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || !state.accepted.has(key)) {
    return send(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  }
  if (!req.headers['anthropic-version']) {
    return send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
  }
  if (req.method === 'POST' && path === '/anthropic/v1/messages' && streamed) {
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content: [],
      stop_reason: null,
      stop_sequence: null,
    };
    const delta = (text: string): object => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
    return void sendEvents(state, res, [
      { event: 'message_start', data: { type: 'message_start', message: { ...message, usage: { input_tokens: 1, output_tokens: 0 } } } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
      { event: 'content_block_delta', data: delta('hello ') },
      { event: 'content_block_delta', data: delta('from anthropic') },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'message_delta',
        data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  }
  if (req.method === 'POST' && path === '/anthropic/v1/messages') {
    return send(res, 200, {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content: [{ type: 'text', text: 'hello from anthropic' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 3 },
    });
  }
  send(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'not found' } });
}

function gemini(state: State, req: IncomingMessage, res: ServerResponse, path: string): void {
  const key = req.headers['x-goog-api-key'];
  if (typeof key !== 'string' || !state.accepted.has(key)) {
    return send(res, 400, {
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [{ reason: 'API_KEY_INVALID' }],
      },
    });
  }
  if (req.method === 'POST' && /^\/gemini\/v1beta\/models\/[\w.-]+:generateContent$/.test(path)) {
    return send(res, 200, {
      candidates: [{ content: { role: 'model', parts: [{ text: 'hello from gemini' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 3, totalTokenCount: 4 },
    });
  }
  send(res, 404, { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } });
}

function isStreamRequest(body: string): boolean {
  try {
    return (JSON.parse(body) as { stream?: unknown }).stream === true;
  } catch {
    return false;
  }
}

/** Server-sent events, one write each, `state.streamGapMs` apart. */
async function sendEvents(state: State, res: ServerResponse, events: ReadonlyArray<{ event?: string; data: unknown }>): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [index, { event, data }] of events.entries()) {
    if (index > 0 && state.streamGapMs > 0) await new Promise((resolve) => setTimeout(resolve, state.streamGapMs));
    res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }
  res.end();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
