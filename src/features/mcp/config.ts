import * as z from 'zod/mini';
import { ConfigError } from '../../errors.js';
import { readConfigFile } from '../../providers/config-file.js';
import { ConfiguredClientSchema } from './store.js';

const McpConfigSchema = z.object({
  clientMetadataUrl: z.optional(z.string()),
  clients: z.optional(z.record(z.string(), ConfiguredClientSchema)),
});

/**
 * The `mcp` section of config.json: `clientMetadataUrl` and pre-registered `clients` by server URL or issuer.
 * Read like the rest of the file: a config.json owned by another user or writable by others is refused.
 */
export async function readMcpConfig(home: string): Promise<z.infer<typeof McpConfigSchema>> {
  const config = await readConfigFile(home);
  const section = config.raw.mcp;
  if (section === undefined) return {};
  const parsed = McpConfigSchema.safeParse(section);
  if (!parsed.success)
    throw new ConfigError(`The "mcp" section of ${config.path} is not valid: ${parsed.error.issues[0]?.message ?? 'unknown problem'}`);
  return parsed.data;
}
