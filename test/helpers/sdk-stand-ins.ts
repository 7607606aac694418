// The model APIs the official SDKs talk to, on one loopback server, checking what the real services check:
// OpenAI (`/openai/v1`: Bearer key, 401 with its error body), Anthropic (`/anthropic/v1`: `x-api-key` and
// `anthropic-version`, 401 `authentication_error`), Gemini (`/gemini/v1beta`: `x-goog-api-key`, 400
// `API_KEY_INVALID` as Google answers). Each records the headers it saw, for tests to assert on.
import type { IncomingMessage, ServerResponse } from 'node:http';
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
  /** Also accept a Bearer token that this returns true for (an OAuth access token checked at the issuer). */
  acceptToken: (token: string) => Promise<boolean>;
  requests: SeenRequest[];
}

/** Starts the stand-ins; `accepted` starts empty. */
export async function startSdkStandIns(): Promise<SdkStandIns> {
  const state: State = { accepted: new Set<string>(), revoked: new Set<string>(), acceptToken: async () => false, requests: [] };
  // The handler reads `state` on every request, so tests change what is accepted on the returned object.
  const server = await startHttpServer((req, res) => void handle(state, req, res));
  return Object.assign(state, server);
}

type State = Pick<SdkStandIns, 'accepted' | 'revoked' | 'acceptToken' | 'requests'>;

async function handle(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  for await (const _chunk of req); // the body is not needed, only read
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const service = path.split('/')[1];
  if (service !== 'openai' && service !== 'anthropic' && service !== 'gemini') return send(res, 404, { error: 'no such service' });
  state.requests.push({ service, method: req.method ?? '', path, headers: req.headers });
  if (service === 'openai') return openai(state, req, res, path);
  if (service === 'anthropic') return anthropic(state, req, res, path);
  return gemini(state, req, res, path);
}

async function openai(state: State, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!token || state.revoked.has(token) || !(state.accepted.has(token) || (await state.acceptToken(token)))) {
    return send(res, 401, {
      error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
    });
  }
  if (req.method === 'GET' && path === '/openai/v1/models') {
    return send(res, 200, { object: 'list', data: [{ id: 'gpt-test', object: 'model', created: 1_700_000_000, owned_by: 'stand-in' }] });
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

function anthropic(state: State, req: IncomingMessage, res: ServerResponse, path: string): void {
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || !state.accepted.has(key)) {
    return send(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  }
  if (!req.headers['anthropic-version']) {
    return send(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
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

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
