// Agents for tests: in this process (startAgent from the sources), on a fresh home with a passphrase store.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { createLoginkit, startAgent, type AgentHandle } from '../../src/index.js';
import { makeHome } from '../helpers/cli.js';

/** The passphrase of the stores made here. */
export const PASSPHRASE = 'agent-test-passphrase';
/** An OpenAI-shaped key stored by {@link homeWithKeys}. */
export const OPENAI_KEY = 'sk-proj-agentTESTkey0123456789abcdefghij';
/** An Anthropic-shaped key stored by {@link homeWithKeys}. */
export const ANTHROPIC_KEY = 'sk-ant-api03-agentTESTkey0123456789abcdefghij';

const started: AgentHandle[] = [];
after(async () => {
  await Promise.all(started.splice(0).map((agent) => agent.close()));
});

/** A fresh home whose passphrase store holds an OpenAI and an Anthropic key (and, when given, config.json's providers). */
export async function homeWithKeys(providers?: Record<string, unknown>): Promise<string> {
  const home = await makeHome();
  if (providers) await writeFile(join(home, 'config.json'), JSON.stringify({ providers }), { mode: 0o600 });
  const kit = createLoginkit({ home, env: { LOGINKIT_STORE: 'passphrase', LOGINKIT_PASSPHRASE: PASSPHRASE } });
  await kit.loginWithApiKey('openai', OPENAI_KEY, { verify: false });
  await kit.loginWithApiKey('anthropic', ANTHROPIC_KEY, { verify: false });
  return home;
}

/** Starts an agent on `home` in this process, closed after the file's tests. */
export async function agentOn(
  home: string,
  env: Record<string, string> = {},
  options: { lockAfterMs?: number; tcpPort?: number } = {},
): Promise<AgentHandle> {
  const agent = await startAgent({
    home,
    env: { LOGINKIT_HOME: home, LOGINKIT_STORE: 'passphrase', LOGINKIT_PASSPHRASE: PASSPHRASE, ...env },
    onWarning: () => undefined,
    ...options,
  });
  started.push(agent);
  return agent;
}
