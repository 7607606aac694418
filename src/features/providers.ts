import { join } from 'node:path';
import type { LoginkitContext } from '../context.js';
import { type ProviderEntry, writeProviderEntry } from '../providers/config-file.js';
import { type Provider, validateProviderEntry } from '../providers/registry.js';

/** A provider known to this home. */
export interface ProviderSummary {
  id: string;
  displayName: string;
  builtin: boolean;
  methods: readonly ('oauth' | 'api_key' | 'aws' | 'google-cloud' | 'azure')[];
  /** Environment variables that hold its API key, the conventional one first. */
  envVars: readonly string[];
  issuer: string | null;
  clientId: string | null;
  scopes: readonly string[];
  redirectUri: string | null;
  docsUrl: string | null;
  policyNote: string | null;
}

/** Every provider: the built-ins, then those configured in config.json. */
export async function listProviders(ctx: LoginkitContext): Promise<ProviderSummary[]> {
  return (await ctx.providers.list()).map(summarize);
}

/** The provider called `id` (built in or configured), or a ConfigError. */
export async function describeProvider(ctx: LoginkitContext, id: string): Promise<ProviderSummary> {
  return summarize(await ctx.providers.find(id));
}

/** Adds or replaces a provider entry in config.json after validating it. */
export async function addProvider(ctx: LoginkitContext, id: string, entry: ProviderEntry): Promise<ProviderSummary> {
  const provider = validateProviderEntry(id, entry, join(ctx.home, 'config.json'));
  await writeProviderEntry(ctx.home, id, entry);
  return summarize(provider);
}

function summarize(provider: Provider): ProviderSummary {
  return {
    id: provider.id,
    displayName: provider.displayName,
    builtin: provider.builtin,
    methods: provider.methods,
    envVars: provider.apiKey?.envVars ?? [],
    issuer: provider.oauth?.issuer ?? null,
    clientId: provider.oauth?.clientId ?? null,
    scopes: provider.oauth?.scopes ?? [],
    redirectUri: provider.oauth?.redirectUri ?? null,
    docsUrl: provider.docsUrl ?? null,
    policyNote: provider.policyNote ?? null,
  };
}
