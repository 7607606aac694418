// `loginkit serve --stdio`: JSON-RPC 2.0 over newline-delimited JSON, for TUIs and editors in other languages.
// Each `login` is one sign-in state machine (kit.startSignIn) whose every state goes out as a `login/state`
// notification. The messages are published as docs/serve-stdio.schema.json. No notification carries a
// secret; `token` answers with one only because it was asked.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import * as z from 'zod/mini';
import { type Loginkit, LoginkitError, type SignIn, type SignInState, cancellable } from '../index.js';

/** JSON-RPC error codes of the server: the standard ones, and loginkit's own (its error `code` is in `data.code`). */
export const RPC_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** A loginkit error: `data.code` is its stable code (`login_required`, `unknown_provider`, …). */
  loginkit: -32000,
  /** No sign-in has this id (it was never started by this server). */
  unknownSignIn: -32001,
  /** The input does not fit the sign-in's current step (`data.step`). */
  notNow: -32002,
} as const;

const LINE_LIMIT = 64 * 1024;

class RpcError extends Error {
  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const id = z.union([z.string(), z.number().check(z.int())]);
const envelope = z.object({ jsonrpc: z.literal('2.0'), id: z.optional(id), method: z.string(), params: z.optional(z.unknown()) });
const method = z.enum(['browser', 'device', 'paste', 'api_key']);
const nonEmpty = () => z.string().check(z.minLength(1));
const providerParams = { provider: nonEmpty(), profile: z.optional(nonEmpty()) };
const signInParams = { signIn: z.string() };

/** The params each method takes; `undefined` params are checked as `{}`. */
const PARAMS = {
  providers: z.strictObject({}),
  status: z.strictObject({ provider: z.optional(nonEmpty()), profile: z.optional(nonEmpty()) }),
  login: z.strictObject({
    provider: z.optional(nonEmpty()),
    providers: z.optional(z.array(nonEmpty())),
    method: z.optional(method),
    profile: z.optional(nonEmpty()),
    noBrowser: z.optional(z.boolean()),
    timeoutMs: z.optional(z.number().check(z.int(), z.positive())),
  }),
  'login/chooseProvider': z.strictObject({ ...signInParams, provider: nonEmpty() }),
  'login/chooseMethod': z.strictObject({ ...signInParams, method }),
  'login/paste': z.strictObject({ ...signInParams, text: z.string().check(z.maxLength(LINE_LIMIT)) }),
  'login/submitKey': z.strictObject({ ...signInParams, key: z.string().check(z.minLength(1), z.maxLength(LINE_LIMIT)) }),
  'login/cancel': z.strictObject(signInParams),
  'login/retry': z.strictObject(signInParams),
  token: z.strictObject({ ...providerParams, source: z.optional(z.enum(['env', 'store'])) }),
  logout: z.strictObject(providerParams),
} as const;

type Method = keyof typeof PARAMS;
type Params<M extends Method> = z.infer<(typeof PARAMS)[M]>;

/** Whether each input is taken in a state. */
const TAKES: Record<'chooseProvider' | 'chooseMethod' | 'paste' | 'submitKey' | 'cancel' | 'retry', (state: SignInState) => boolean> = {
  chooseProvider: (state) => state.step === 'choosing_provider',
  chooseMethod: (state) => state.step === 'choosing_method',
  paste: (state) => state.step === 'browser' || state.step === 'paste',
  submitKey: (state) => state.step === 'api_key',
  cancel: cancellable,
  retry: (state) => state.step === 'failed',
};

/**
 * Serves JSON-RPC requests read from `input` (one JSON object per line) until it ends, writing each answer and
 * notification as one line through `write`; sign-ins still running then are cancelled.
 */
export async function serveStdio(kit: Loginkit, input: Readable, write: (line: string) => void): Promise<void> {
  const send = (message: object): void => write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  const signIns = new Map<string, SignIn>();
  let nextSignIn = 1;
  const pending = new Set<Promise<void>>();

  const signInFor = (key: string): SignIn => {
    const found = signIns.get(key);
    if (!found) throw new RpcError(RPC_ERRORS.unknownSignIn, `No sign-in "${key}" was started by this server.`, { code: 'usage' });
    return found;
  };
  const takeInput = (params: { signIn: string }, name: keyof typeof TAKES, act: (signIn: SignIn) => void): { state: SignInState } => {
    const signIn = signInFor(params.signIn);
    const step = signIn.getState().step;
    if (!TAKES[name](signIn.getState())) {
      throw new RpcError(RPC_ERRORS.notNow, `The sign-in is at step "${step}", which does not take ${name}.`, { code: 'usage', step });
    }
    act(signIn);
    return { state: signIn.getState() };
  };

  /** Runs one method; the result, and what to do once it was sent (start notifying). */
  const handle = async <M extends Method>(name: M, params: Params<M>): Promise<{ result: unknown; afterwards?: () => void }> => {
    switch (name) {
      case 'providers':
        return { result: { providers: await kit.providers() } };
      case 'status': {
        const p = params as Params<'status'>;
        return { result: { providers: await kit.status(p.provider, p.profile !== undefined ? { profile: p.profile } : undefined) } };
      }
      case 'login': {
        const { provider, ...options } = params as Params<'login'>;
        const key = String(nextSignIn++);
        const signIn = kit.startSignIn(provider, options);
        signIns.set(key, signIn);
        const queued: SignInState[] = [];
        let notify = (state: SignInState): void => void queued.push(state);
        signIn.subscribe((state) => notify(state));
        return {
          result: { signIn: key, state: signIn.getState() },
          afterwards: () => {
            notify = (state) => send({ method: 'login/state', params: { signIn: key, state } });
            for (const state of queued.splice(0)) notify(state);
          },
        };
      }
      case 'login/chooseProvider': {
        const p = params as Params<'login/chooseProvider'>;
        return { result: takeInput(p, 'chooseProvider', (s) => s.chooseProvider(p.provider)) };
      }
      case 'login/chooseMethod': {
        const p = params as Params<'login/chooseMethod'>;
        return { result: takeInput(p, 'chooseMethod', (s) => s.chooseMethod(p.method)) };
      }
      case 'login/paste': {
        const p = params as Params<'login/paste'>;
        return { result: takeInput(p, 'paste', (s) => s.paste(p.text)) };
      }
      case 'login/submitKey': {
        const p = params as Params<'login/submitKey'>;
        return { result: takeInput(p, 'submitKey', (s) => s.submitKey(p.key)) };
      }
      case 'login/cancel':
        return { result: takeInput(params as Params<'login/cancel'>, 'cancel', (s) => s.cancel()) };
      case 'login/retry':
        return { result: takeInput(params as Params<'login/retry'>, 'retry', (s) => s.retry()) };
      case 'token': {
        const p = params as Params<'token'>;
        const info = await kit.getTokenInfo(p.provider, { profile: p.profile, source: p.source });
        return {
          result: {
            token: info.token,
            type: info.type,
            expiresAt: info.expiresAt === null ? null : new Date(info.expiresAt).toISOString(),
          },
        };
      }
      case 'logout': {
        const p = params as Params<'logout'>;
        return { result: await kit.logout(p.provider, p.profile !== undefined ? { profile: p.profile } : undefined) };
      }
    }
    throw new RpcError(RPC_ERRORS.methodNotFound, `No method "${String(name)}".`);
  };

  const answer = async (line: string): Promise<void> => {
    let requestId: z.infer<typeof id> | null = null;
    let notification = false;
    try {
      const message = parse(line);
      const request = envelope.safeParse(message);
      if (!request.success)
        throw new RpcError(RPC_ERRORS.invalidRequest, 'Not a JSON-RPC 2.0 request: {"jsonrpc":"2.0","id":1,"method":"…","params":{…}}.');
      requestId = request.data.id ?? null;
      notification = request.data.id === undefined;
      const name = request.data.method;
      if (!Object.hasOwn(PARAMS, name))
        throw new RpcError(RPC_ERRORS.methodNotFound, `No method "${name}". Methods: ${Object.keys(PARAMS).join(', ')}.`);
      const params = PARAMS[name as Method].safeParse(request.data.params ?? {});
      if (!params.success) {
        throw new RpcError(RPC_ERRORS.invalidParams, `Invalid params for "${name}": ${describeIssues(params.error.issues)}`);
      }
      const { result, afterwards } = await handle(name as Method, params.data as never);
      if (request.data.id !== undefined) send({ id: request.data.id, result });
      afterwards?.();
    } catch (error) {
      // JSON-RPC 2.0: a notification is never answered, not even with an error.
      if (!notification) send({ id: requestId, error: toRpcError(error) });
    }
  };

  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    if (line.length > LINE_LIMIT) {
      send({
        id: null,
        error: { code: RPC_ERRORS.invalidRequest, message: `A message longer than ${LINE_LIMIT} characters was ignored.` },
      });
      continue;
    }
    const running = answer(line);
    pending.add(running);
    void running.finally(() => pending.delete(running));
  }
  for (const signIn of signIns.values()) signIn.cancel();
  await Promise.all(pending);
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new RpcError(RPC_ERRORS.parseError, 'Not JSON: send one JSON object per line.');
  }
}

/** The JSON-RPC error object for a failure: loginkit's errors keep their message and code, anything else is internal. */
function toRpcError(error: unknown): { code: number; message: string; data?: Record<string, unknown> } {
  if (error instanceof RpcError) return { code: error.rpcCode, message: error.message, ...(error.data ? { data: error.data } : {}) };
  if (error instanceof LoginkitError) return { code: RPC_ERRORS.loginkit, message: error.message, data: { code: error.code } };
  return {
    code: RPC_ERRORS.internalError,
    message: `Internal error: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
  };
}

/** Schema problems as one line: each field's path and what is wrong with it. */
function describeIssues(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>): string {
  return issues.map((issue) => `${issue.path.map(String).join('.') || 'params'}: ${issue.message}`).join('; ');
}
