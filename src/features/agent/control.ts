import { LoginkitError } from '../../errors.js';
import type { EnvVars } from '../../shared/home.js';
import { AgentConnection, agentAddress } from './connection.js';
import { AGENT_SOCK_VARIABLE } from './protocol.js';

/** A connection to the agent that `LOGINKIT_AGENT_SOCK` names, for the `agent` commands and `exec --broker`. */
export function connectAgent(env: EnvVars): AgentConnection {
  const value = env[AGENT_SOCK_VARIABLE];
  if (!value) {
    throw new LoginkitError(
      'configuration',
      'No loginkit agent: LOGINKIT_AGENT_SOCK is not set.\nStart one: eval "$(loginkit agent start)"',
    );
  }
  return new AgentConnection(agentAddress(value, env.LOGINKIT_AGENT_TOKEN));
}
