import { type Command, Option } from 'commander';
import {
  ConfigError,
  type LoginMethod,
  type LoginResult,
  type Loginkit,
  LoginkitError,
  type ProviderSummary,
  STDIN_SECRET_MAX_BYTES,
  STORE_CHOICES,
  type SignIn,
  type SignInState,
  type StoreChoice,
  readBoundedText,
} from '../../index.js';
import type { CliContext } from '../context.js';
import { createLoginView } from '../login-view.js';
import { type Io, UsageError, printJson, say } from '../output.js';
import { METHOD_CHOICES, type SignInFlags, pasteInput, positiveSeconds, requestedMethod } from '../sign-in-method.js';

interface LoginFlags extends SignInFlags {
  browser: boolean;
  timeout?: number | string;
  store?: StoreChoice;
  json?: boolean;
  withApiKey?: boolean;
  verify: boolean;
  oauth?: boolean;
  profile?: string;
}

/** Registers `loginkit login [provider]`: OAuth through the browser, or an API key from stdin or a hidden prompt. */
export function register(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  program
    .command('login')
    .description('sign in to a provider (browser sign-in, or an API key)')
    .argument('[provider]', 'provider id (see: loginkit providers); a picker on a terminal when omitted')
    .argument('[secret]', 'never given here: keys are read from stdin or a hidden prompt')
    .option('--with-api-key', 'read an API key from stdin (e.g. printf %s "$KEY" | loginkit login openai --with-api-key)')
    .option('--no-verify', 'store the API key without asking the provider whether it works')
    .option('--oauth', 'sign in through the browser even where an API key is also offered')
    .option('--profile <name>', 'store the credential under this profile (default: the active one)')
    .option('--no-browser', 'print the sign-in URL instead of opening a browser')
    .addOption(
      new Option('--method <method>', 'how to sign in (default auto: from where you are; see docs/remote-sign-in.md)').choices(
        METHOD_CHOICES,
      ),
    )
    .option('--device', 'sign in with a code entered on any device (--method device)')
    .option('--paste', 'open the URL on any device and paste back the address it ends on (--method paste); also reads a piped stdin')
    .addOption(
      new Option('--timeout <seconds>', 'give up after this many seconds (default 300; a device code: its lifetime)').argParser(
        positiveSeconds,
      ),
    )
    .addOption(new Option('--store <backend>', 'where to keep credentials when creating the store').choices(STORE_CHOICES))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (providerArg: string | undefined, secret: string | undefined, flags: LoginFlags) => {
      ctx.json(flags.json);
      if (secret !== undefined) {
        // Never echo it: argv is visible to every user in the process list and lands in shell history.
        throw new UsageError(
          `Refusing a key on the command line (other users can see it in the process list, and it stays in your shell history).\nUse: printf '%s' "$KEY" | loginkit login ${providerArg ?? '<provider>'} --with-api-key`,
        );
      }
      const client = ctx.kit({ store: flags.store });
      const id = providerArg ?? (await pickProvider(io, client));
      const provider = await client.provider(id);
      const signInMethod = requestedMethod(flags);
      const method = signInMethod === undefined ? await chooseMethod(io, provider, flags) : 'oauth';
      const result =
        method === 'api_key'
          ? await loginWithKey(io, client, provider, flags)
          : await loginWithBrowser(io, client, provider, flags, signInMethod ?? 'auto');
      if (result.profileRule)
        say(io, `Profile "${result.profile}" was chosen by the rule in ${result.profileRule}; --profile names another.`);
      if (result.shadowedBy) {
        say(
          io,
          `warning: ${result.shadowedBy} is set in this environment and takes precedence over what was just stored; unset it, or use --source store.`,
        );
      }
      // The entry `status <id> --json` prints for this profile now: one shape, the same fields, for both commands.
      if (flags.json) printJson(io, (await client.status(provider.id, { profile: flags.profile }))[0] ?? {});
    });
}

function isInteractive(io: Io): boolean {
  return io.stdin.isTTY === true && io.stderr.isTTY === true && !io.env.CI;
}

async function pickProvider(io: Io, client: Loginkit): Promise<string> {
  const providers = await client.providers();
  if (!isInteractive(io)) {
    throw new UsageError(`Name a provider: loginkit login <provider>. Known: ${providers.map((p) => p.id).join(', ')}`);
  }
  const { autocomplete, isCancel } = await import('@clack/prompts');
  const choice = await autocomplete({
    message: 'Sign in to which provider? (type to search)',
    options: providers.map((p) => ({ value: p.id, label: p.displayName, hint: p.methods.join(' or ').replace('api_key', 'API key') })),
    input: io.stdin,
    output: io.stderr,
  });
  if (isCancel(choice)) throw new LoginkitError('interrupted', 'Cancelled; nothing was changed.');
  return String(choice);
}

async function chooseMethod(io: Io, provider: ProviderSummary, flags: LoginFlags): Promise<'oauth' | 'api_key'> {
  if (flags.withApiKey && flags.oauth) throw new UsageError('Choose one: --with-api-key or --oauth.');
  if (flags.withApiKey) return 'api_key';
  if (flags.oauth) {
    if (!provider.methods.includes('oauth')) {
      throw new ConfigError(
        `${provider.policyNote ?? `${provider.displayName} offers no browser sign-in here.`}\nUse an API key: loginkit login ${provider.id} --with-api-key`,
      );
    }
    return 'oauth';
  }
  if (provider.methods.length === 1) return provider.methods[0] as 'oauth' | 'api_key';
  if (!isInteractive(io)) return provider.methods[0] as 'oauth' | 'api_key';
  const { isCancel, select } = await import('@clack/prompts');
  const choice = await select({
    message: `How do you want to sign in to ${provider.displayName}?`,
    options: provider.methods.map((method) => ({
      value: method,
      label: method === 'oauth' ? (provider.id === 'openai' ? 'Sign in with ChatGPT' : 'Sign in through the browser') : 'Use an API key',
    })),
    input: io.stdin,
    output: io.stderr,
  });
  if (isCancel(choice)) throw new LoginkitError('interrupted', 'Cancelled; nothing was changed.');
  return choice as 'oauth' | 'api_key';
}

/**
 * An API key through the sign-in machine: once it asks for the key (state `api_key`), the key is read from
 * stdin or a hidden prompt and handed over; the machine checks it with the provider and stores it.
 */
async function loginWithKey(io: Io, client: Loginkit, provider: ProviderSummary, flags: LoginFlags): Promise<LoginResult> {
  const signIn = client.startSignIn(provider.id, {
    method: 'api_key',
    verify: flags.verify,
    ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
  });
  const asked = await firstOf(signIn, ['api_key', 'done', 'failed', 'cancelled']);
  if (asked.step === 'api_key') {
    let key: string;
    try {
      key = await readKey(io, provider, flags);
    } catch (error) {
      signIn.cancel();
      throw error;
    }
    signIn.submitKey(key);
  }
  const ending = await signIn.settled();
  if (ending.step !== 'done')
    throw ending.step === 'cancelled' ? new LoginkitError('interrupted', 'Cancelled; nothing was stored.') : signIn.failure();
  const { result } = ending;
  say(
    io,
    `Stored the ${provider.displayName} API key ${result.key} for profile "${result.profile}" (${result.verified ? `${provider.displayName} accepted it` : 'not checked: --no-verify'}) in ${result.store.location} (${result.store.protection}).`,
  );
  return result;
}

/** The key, from stdin (`--with-api-key` off a terminal) or a hidden prompt; never empty. */
async function readKey(io: Io, provider: ProviderSummary, flags: LoginFlags): Promise<string> {
  let key: string;
  if (flags.withApiKey && !io.stdin.isTTY) {
    key = await readBoundedText(io.stdin, STDIN_SECRET_MAX_BYTES, 'The API key on stdin');
  } else if (isInteractive(io)) {
    if (provider.policyNote) say(io, provider.policyNote);
    const { isCancel, password } = await import('@clack/prompts');
    const answer = await password({ message: `${provider.displayName} API key (input hidden)`, input: io.stdin, output: io.stderr });
    if (isCancel(answer)) throw new LoginkitError('interrupted', 'Cancelled; nothing was stored.');
    key = String(answer);
  } else {
    throw new UsageError(
      `${provider.displayName} takes an API key on stdin: printf '%s' "$KEY" | loginkit login ${provider.id} --with-api-key`,
    );
  }
  if (!key.trim()) throw new UsageError('No API key was given (stdin was empty); nothing was stored.');
  return key;
}

/** Resolves with the sign-in's first state (the current one, or a later one) whose step is one of `steps`. */
function firstOf<S extends SignInState['step']>(signIn: SignIn, steps: readonly S[]): Promise<Extract<SignInState, { step: S }>> {
  const wanted = (state: SignInState): state is Extract<SignInState, { step: S }> => (steps as readonly string[]).includes(state.step);
  const now = signIn.getState();
  if (wanted(now)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const stop = signIn.subscribe((state) => {
      if (!wanted(state)) return;
      stop();
      resolve(state);
    });
  });
}

async function loginWithBrowser(
  io: Io,
  client: Loginkit,
  provider: ProviderSummary,
  flags: LoginFlags,
  signInMethod: LoginMethod | 'auto',
): Promise<LoginResult> {
  const view = await createLoginView(io, provider.displayName);
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.on('SIGINT', onSigint);
  // The screens are the sign-in machine's states; stdin is the paste box (read once the login asks for a paste).
  const signIn = client.startSignIn(provider.id, {
    method: signInMethod,
    noBrowser: !flags.browser,
    pasted: pasteInput(signInMethod, io.stdin) ?? null,
    signal: abort.signal,
    ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: Number(flags.timeout) * 1000 } : {}),
  });
  signIn.subscribe((state) => view.render(state));
  const ending = await signIn.settled().finally(() => process.off('SIGINT', onSigint));
  if (ending.step !== 'done') {
    view.stop();
    throw ending.step === 'cancelled' ? new LoginkitError('interrupted', 'Sign-in cancelled.') : signIn.failure();
  }
  const { result } = ending;
  const who = result.account?.email ?? result.account?.subject;
  const done = `Signed in to ${provider.id}${who ? ` as ${who}` : ''}${result.profile !== 'default' ? ` (profile "${result.profile}")` : ''}.`;
  view.stop(done);
  if (!io.stderr.isTTY) say(io, done);
  say(io, `Stored in ${result.store.location} (${result.store.protection}).`);
  return result;
}
