import type { LoginkitContext } from '../context.js';
import type { Provider } from '../providers/registry.js';

/**
 * The provider called `id`: built in or configured, or undefined for a since-removed one whose stored
 * credentials still work. An id that is none of these is refused (UnknownProviderError, exit 2), so a typo
 * never reads as "not signed in".
 */
export async function knownProvider(ctx: LoginkitContext, id: string): Promise<Provider | undefined> {
  const provider = await ctx.providers.findKnown(id);
  if (provider) return provider;
  const stored = await ctx.session.credentials();
  if (stored.some((credential) => credential.provider === id)) return undefined;
  throw await ctx.providers.unknown(id);
}
