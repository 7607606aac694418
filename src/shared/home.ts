import { homedir } from 'node:os';
import { join } from 'node:path';

/** Environment variables as loginkit reads them; injectable so tests and embedders can pass their own. */
export type EnvVars = Readonly<Record<string, string | undefined>>;

/**
 * The folder that holds config.json and the credential store: `$LOGINKIT_HOME`, else the platform's
 * config folder (`$XDG_CONFIG_HOME/loginkit` or `~/.config/loginkit`; `%APPDATA%\loginkit` on Windows).
 */
export function resolveHome(env: EnvVars, platform: NodeJS.Platform = process.platform): string {
  if (env.LOGINKIT_HOME) return env.LOGINKIT_HOME;
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'loginkit');
  const configRoot = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(configRoot, 'loginkit');
}
