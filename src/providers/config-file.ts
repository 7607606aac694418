import { join } from 'node:path';
import * as z from 'zod/mini';
import { ConfigError, StorageError } from '../errors.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { readRegularFileSync } from '../shared/bounded-read.js';
import { describeFsError, errorCode } from '../shared/errno.js';
import { assertSafeSettingsFile } from '../shared/file-safety.js';

/** The longest reuse of a key a command printed: a year (in seconds). */
const MAX_KEY_COMMAND_TTL_S = 365 * 24 * 3600;
/** An AWS profile or sso-session name as ~/.aws/config allows it (no brackets, spaces or control characters). */
const AWS_NAME = /^[\w+=,.@:/-]{1,128}$/;
/** An AWS region name such as `us-east-1` (also the `-gov-` and `-iso-` partitions). */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * config.json's schema, built on first use (most homes have no config.json). A provider entry is a custom
 * OAuth provider (`type: "oauth"`), a custom API-key provider (`type: "api_key"`), or adjustments to a
 * built-in one (any of the fields, no `type` needed).
 */
function buildConfigSchema() {
  const OptionalUrl = z.optional(z.string());
  const GOOGLE_SERVICE_ACCOUNT = z.string().check(z.regex(/^[\w.+-]{1,100}@[\w.-]{1,200}$/));
  const ProviderEntrySchema = z.object({
    type: z.optional(z.enum(['oauth', 'api_key', 'aws', 'google-cloud', 'azure'])),
    displayName: z.optional(z.string()),
    // OAuth
    issuer: z.optional(z.string().check(z.minLength(1))),
    clientId: z.optional(z.string().check(z.minLength(1))),
    scopes: z.optional(z.array(z.string().check(z.minLength(1)))),
    redirectUri: OptionalUrl,
    authorizationEndpoint: OptionalUrl,
    tokenEndpoint: OptionalUrl,
    revocationEndpoint: OptionalUrl,
    userinfoEndpoint: OptionalUrl,
    deviceAuthorizationEndpoint: OptionalUrl,
    authorizeParams: z.optional(z.record(z.string(), z.string())),
    // API keys
    baseUrl: OptionalUrl,
    headers: z.optional(z.record(z.string(), z.string())),
    header: z.optional(z.object({ name: z.string().check(z.minLength(1)), scheme: z.optional(z.literal('Bearer')) })),
    envVar: z.optional(z.string().check(z.regex(/^[A-Z][A-Z0-9_]*$/))),
    validationPath: z.optional(z.string().check(z.regex(/^\//))),
    // Key commands: the key comes from a program's stdout (argument vector, no shell).
    keyCommand: z.optional(z.array(z.string().check(z.minLength(1))).check(z.minLength(1))),
    /** Seconds a key the command printed is reused; 0 runs it for every use. At most a year: an expiry a date can hold. */
    keyCommandTtl: z.optional(z.number().check(z.nonnegative(), z.lte(MAX_KEY_COMMAND_TTL_S))),
    keyCommandCache: z.optional(z.enum(['memory', 'store'])),
    /** Seconds the command may take (a vault may wait for a fingerprint); default 30. */
    keyCommandTimeout: z.optional(z.number().check(z.positive(), z.lte(600))),
    // AWS (`type: "aws"`): a profile of ~/.aws/config, or the same settings given here.
    awsProfile: z.optional(z.string().check(z.regex(AWS_NAME))),
    ssoSession: z.optional(z.string().check(z.regex(AWS_NAME))),
    startUrl: OptionalUrl,
    ssoRegion: z.optional(z.string().check(z.regex(AWS_REGION))),
    accountId: z.optional(z.string().check(z.regex(/^\d{12}$/))),
    roleName: z.optional(z.string().check(z.regex(/^[\w+=,.@-]{1,64}$/))),
    region: z.optional(z.string().check(z.regex(AWS_REGION))),
    // Google Cloud (`type: "google-cloud"`): ADC by default, or a credentials file, or loginkit's own sign-in (clientId).
    credentialsFile: z.optional(z.string().check(z.minLength(1))),
    clientSecret: z.optional(z.string().check(z.minLength(1))),
    impersonateServiceAccount: z.optional(z.union([GOOGLE_SERVICE_ACCOUNT, z.array(GOOGLE_SERVICE_ACCOUNT).check(z.minLength(1))])),
    iamCredentialsEndpoint: OptionalUrl,
    project: z.optional(z.string().check(z.regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]$|^[a-z0-9.:-]{1,100}$/))),
    location: z.optional(z.string().check(z.regex(/^[a-z0-9-]{1,40}$/))),
    // Microsoft Entra ID (`type: "azure"`); clientId, scopes and redirectUri are shared with OAuth.
    identity: z.optional(z.enum(['auto', 'person', 'service-principal', 'workload-identity', 'managed-identity', 'azure-cli'])),
    tenant: z.optional(z.string().check(z.regex(/^[\w.-]{1,128}$/))),
    authorityHost: OptionalUrl,
    endpoint: OptionalUrl,
    certificatePath: z.optional(z.string().check(z.minLength(1))),
  });
  return z.object({
    providers: z.optional(z.record(z.string(), ProviderEntrySchema)),
    /** Accounts by project: the profile to use under a directory, like git's `includeIf "gitdir:"`. */
    profileRules: z.optional(z.array(ProfileRuleSchema)),
    /** Where new credentials go (auto, keychain, passphrase or file), checked by the store. LOGINKIT_STORE wins over it. */
    store: z.optional(z.string()),
  });
}
let configSchema: ReturnType<typeof buildConfigSchema> | undefined;

/** A project rule, in config.json's `profileRules` or alone in a project's `.loginkit.json` (without `directory`). */
export const ProfileRuleSchema = z.object({
  /** Absolute, or starting with `~/`; the rule applies in this directory and everything below it. */
  directory: z.optional(z.string().check(z.regex(/^(~\/|\/|[A-Za-z]:[\\/])/))),
  profile: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)),
  /** Only for these providers; default: every provider. */
  providers: z.optional(z.array(z.string())),
});

/** One project rule as written. */
export type ProfileRule = z.infer<typeof ProfileRuleSchema>;

/** One provider entry as written in config.json. */
export type ProviderEntry = NonNullable<z.infer<ReturnType<typeof buildConfigSchema>>['providers']>[string];
/** A custom OAuth provider entry (`type: "oauth"`, `issuer`, `clientId`, …). */
export type OAuthProviderEntry = ProviderEntry & { type: 'oauth'; issuer: string; clientId: string };

/** The parsed config.json; unknown top-level keys are kept when the file is rewritten. */
export interface ConfigFile {
  path: string;
  providers: Record<string, ProviderEntry>;
  store: string | undefined;
  /** config.json's `profileRules`, in file order. */
  profileRules?: ProfileRule[];
  raw: Record<string, unknown>;
}

/** What a provider id may be: 1–64 of a-z 0-9 . _ - starting with a letter or digit. */
export const PROVIDER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Far beyond any config.json a person writes; a larger one (or a device, a FIFO) is not read. */
const CONFIG_MAX_BYTES = 1024 * 1024;

/** Where config.json lives under a home folder. */
export function configPath(home: string): string {
  return join(home, 'config.json');
}

/** Reads and validates `$home/config.json`; a missing file is an empty config. */
export async function readConfigFile(home: string): Promise<ConfigFile> {
  const path = configPath(home);
  let text: string;
  try {
    // Synchronous on purpose: a small file, read on the `loginkit token` start-up path.
    const read = readRegularFileSync(path, CONFIG_MAX_BYTES);
    assertSafeSettingsFile(path, read.stats);
    text = read.bytes.toString('utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { path, providers: {}, store: undefined, raw: {} };
    if (error instanceof StorageError) throw error;
    throw new ConfigError(`${path}: cannot read: ${describeFsError(error)}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON (${(error as Error).message}). Fix or remove the file.`);
  }
  const badId = invalidProviderId(raw);
  if (badId !== undefined) {
    throw new ConfigError(`${path}: provider id ${JSON.stringify(badId)} must be 1–64 of a-z 0-9 . _ - and start with a letter or digit`);
  }
  configSchema ??= buildConfigSchema();
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${path}: ${describeIssue(issue?.path ?? [], issue)}`);
  }
  return {
    path,
    providers: parsed.data.providers ?? {},
    store: parsed.data.store,
    profileRules: parsed.data.profileRules ?? [],
    raw: raw as Record<string, unknown>,
  };
}

/**
 * The first key of `providers` that is not a valid id. Checked on the raw JSON: the schema would silently
 * drop a `"__proto__"` key (JSON.parse makes it an own property; validators skip it).
 */
function invalidProviderId(raw: unknown): string | undefined {
  const providers = (raw as { providers?: unknown } | null)?.providers;
  if (typeof providers !== 'object' || providers === null) return undefined;
  return Object.keys(providers).find((id) => !PROVIDER_ID.test(id));
}

/** Sets `store` in config.json, keeping everything else in the file. */
export async function writeStoreSetting(home: string, choice: string): Promise<void> {
  const config = await readConfigFile(home);
  await writeFileAtomic(config.path, `${JSON.stringify({ ...config.raw, store: choice }, null, 2)}\n`);
}

/** Adds or replaces one provider entry in config.json, keeping everything else in the file. */
export async function writeProviderEntry(home: string, id: string, entry: ProviderEntry): Promise<string> {
  const config = await readConfigFile(home);
  const providers = { ...((config.raw.providers as Record<string, unknown> | undefined) ?? {}), [id]: entry };
  await writeFileAtomic(config.path, `${JSON.stringify({ ...config.raw, providers }, null, 2)}\n`);
  return config.path;
}

interface IssueLike {
  code?: string;
  expected?: string;
  values?: unknown[];
  origin?: string;
  minimum?: unknown;
  maximum?: unknown;
  inclusive?: boolean;
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
      return issue.origin === 'number'
        ? `must be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}`
        : 'must not be empty';
    case 'too_big':
      return issue.origin === 'number' ? `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}` : 'is too long';
    case 'invalid_value':
      return `must be one of ${(issue.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return 'is invalid';
  }
}
