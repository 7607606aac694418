import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { ConfigError } from '../../errors.js';
import { ConfiguredClientSchema } from './store.js';

const McpConfigSchema = z.object({
  clientMetadataUrl: z.optional(z.string()),
  clients: z.optional(z.record(z.string(), ConfiguredClientSchema)),
});

/** The `mcp` section of config.json: `clientMetadataUrl` and pre-registered `clients` by server URL or issuer. */
export async function readMcpConfig(home: string): Promise<z.infer<typeof McpConfigSchema>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(home, 'config.json'), 'utf8'));
  } catch {
    return {};
  }
  const section = (raw as { mcp?: unknown } | null)?.mcp;
  if (section === undefined) return {};
  const parsed = McpConfigSchema.safeParse(section);
  if (!parsed.success)
    throw new ConfigError(
      `The "mcp" section of ${join(home, 'config.json')} is not valid: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`,
    );
  return parsed.data;
}
