import { LoginRequiredError } from '../../errors.js';
import type { EnvVars } from '../../shared/home.js';
import type { CredentialChoice, ExecEnvironment, TokenInfo } from '../credentials.js';
import type { ProviderStatus } from '../status.js';
import { AgentConnection, AgentUnavailableError, agentAddress } from './connection.js';
import { AGENT_ONLY_VARIABLE, AGENT_SOCK_VARIABLE, type AgentTokenAnswer } from './protocol.js';

// How a client (the library, `token`, `status`, `exec`) uses a running agent: it asks the agent, and keeps
// what the environment decides on its side (a provider's key variable in the client's environment still
// wins). When the agent cannot be reached, it falls back to the store, or fails when LOGINKIT_AGENT_ONLY=1.

/** What the client asks the agent instead of opening the store itself. */
export interface AgentRoute {
  getTokenInfo(id: string, choice: CredentialChoice, local: () => Promise<TokenInfo>): Promise<TokenInfo>;
  status(
    id: string | undefined,
    choice: { profile?: string | undefined },
    local: () => Promise<ProviderStatus[]>,
  ): Promise<ProviderStatus[]>;
  execEnvironment(ids: readonly string[], choice: CredentialChoice, local: () => Promise<ExecEnvironment>): Promise<ExecEnvironment>;
  close(): void;
}

/** The route to the agent named by `LOGINKIT_AGENT_SOCK` in `env`, or undefined when it is not set. */
export function agentRoute(env: EnvVars, cwd: string): AgentRoute | undefined {
  const value = env[AGENT_SOCK_VARIABLE];
  if (!value) return undefined;
  const only = env[AGENT_ONLY_VARIABLE] === '1';
  let connection: AgentConnection | undefined;
  // Once the agent is found gone, the rest of this client's calls go to the store without trying again.
  let gone = false;
  const ask = async <T>(method: string, params: Record<string, unknown>, local: () => Promise<T>): Promise<T> => {
    if (gone) return local();
    try {
      connection ??= new AgentConnection(agentAddress(value, env.LOGINKIT_AGENT_TOKEN));
      return await connection.request<T>(method, { ...params, cwd });
    } catch (error) {
      if (!(error instanceof AgentUnavailableError) || only) throw error;
      gone = true;
      return local();
    }
  };
  const profileOf = (choice: { profile?: string | undefined }): string | undefined => choice.profile ?? (env.LOGINKIT_PROFILE || undefined);
  return {
    getTokenInfo: async (id, choice, local) => {
      const answer = await ask<AgentTokenAnswer | TokenInfo>(
        'token',
        { provider: id, profile: profileOf(choice), source: choice.source },
        async () => ({
          ...(await local()),
          envVars: [],
          local: true,
        }),
      );
      if ('local' in answer) return answer as TokenInfo;
      const fromEnv = choice.source === 'store' ? undefined : (answer as AgentTokenAnswer).envVars.find((name) => env[name]);
      if (fromEnv) return { token: env[fromEnv] as string, expiresAt: null, type: 'api_key' };
      const { token, expiresAt, type } = answer as AgentTokenAnswer;
      if (token === undefined || type === undefined) {
        const names = (answer as AgentTokenAnswer).envVars.join(' or ') || 'no environment variable';
        throw new LoginRequiredError(id, `Source "env" was chosen, but ${names} is not set for "${id}".`);
      }
      return { token, expiresAt: expiresAt ?? null, type };
    },
    status: (id, choice, local) => ask('status', { provider: id, profile: profileOf(choice) }, local),
    execEnvironment: async (ids, choice, local) => {
      const made = await ask<ExecEnvironment & { local?: true }>(
        'exec',
        { providers: [...ids], profile: profileOf(choice), source: choice.source },
        async () => ({ ...(await local()), local: true }),
      );
      if (made.local) return { variables: made.variables, used: made.used, ...(made.unset ? { unset: made.unset } : {}) };
      // The client's own key variables win, as they would without the agent: the child inherits them.
      if (choice.source !== 'store') for (const name of Object.keys(made.variables)) if (env[name]) delete made.variables[name];
      return made;
    },
    close: () => connection?.close(),
  };
}
