import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { ConfigError } from '../errors.js';
import { describeFsError, writeFileAtomic } from '../store/atomic-file.js';

const OptionalUrl = z.optional(z.string());

/** The shape of one custom OAuth provider in config.json. */
export const OAuthProviderEntrySchema = z.object({
  type: z.literal('oauth'),
  displayName: z.optional(z.string()),
  issuer: z.string().check(z.minLength(1)),
  clientId: z.string().check(z.minLength(1)),
  scopes: z.optional(z.array(z.string().check(z.minLength(1)))),
  redirectUri: OptionalUrl,
  authorizationEndpoint: OptionalUrl,
  tokenEndpoint: OptionalUrl,
  revocationEndpoint: OptionalUrl,
  userinfoEndpoint: OptionalUrl,
  deviceAuthorizationEndpoint: OptionalUrl,
  authorizeParams: z.optional(z.record(z.string(), z.string())),
});

/** One custom OAuth provider as written in config.json. */
export type OAuthProviderEntry = z.infer<typeof OAuthProviderEntrySchema>;

const ConfigSchema = z.object({
  providers: z.optional(z.record(z.string(), OAuthProviderEntrySchema)),
});

/** The parsed config.json; unknown top-level keys are kept when the file is rewritten. */
export interface ConfigFile {
  path: string;
  providers: Record<string, OAuthProviderEntry>;
  raw: Record<string, unknown>;
}

/** Where config.json lives under a home folder. */
export function configPath(home: string): string {
  return join(home, 'config.json');
}

/** Reads and validates `$home/config.json`; a missing file is an empty config. */
export async function readConfigFile(home: string): Promise<ConfigFile> {
  const path = configPath(home);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, providers: {}, raw: {} };
    throw new ConfigError(`${path}: cannot read: ${describeFsError(error)}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message}). Fix or remove the file.`);
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${path}: ${describeIssue(issue?.path ?? [], issue)}`);
  }
  return { path, providers: parsed.data.providers ?? {}, raw: raw as Record<string, unknown> };
}

/** Adds or replaces one provider entry in config.json, keeping everything else in the file. */
export async function writeProviderEntry(home: string, id: string, entry: OAuthProviderEntry): Promise<string> {
  const config = await readConfigFile(home);
  const providers = { ...((config.raw.providers as Record<string, unknown> | undefined) ?? {}), [id]: entry };
  await writeFileAtomic(config.path, `${JSON.stringify({ ...config.raw, providers }, null, 2)}\n`);
  return config.path;
}

interface IssueLike {
  code?: string;
  expected?: string;
  values?: unknown[];
}

/** Turns a schema issue into "provider "acme": field clientId must be a string". */
function describeIssue(path: readonly PropertyKey[], issue: IssueLike | undefined): string {
  const [top, id, field, ...rest] = path.map(String);
  const where =
    top === 'providers' && id !== undefined
      ? `provider "${id}"${field ? `: field ${[field, ...rest].join('.')}` : ''}`
      : `field ${path.map(String).join('.') || '(root)'}`;
  return `${where} ${issueText(issue)}`;
}

function issueText(issue: IssueLike | undefined): string {
  switch (issue?.code) {
    case 'invalid_type':
      return issue.expected === 'nonoptional' ? 'is required' : `must be a ${issue.expected}`;
    case 'too_small':
      return 'must not be empty';
    case 'invalid_value':
      return `must be one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return 'is invalid';
  }
}
