// Turning what a tool stores into import candidates: which loginkit provider a name stands for, which
// credentials loginkit may take, and one credential of each kind per provider.
import { sanitizeServerText } from '../errors.js';
import { BUILTIN_PROVIDERS, type ProviderSpec } from '../providers/catalog.js';
import type { ImportCandidate, Skipped } from './types.js';

/** Anthropic's terms: Claude subscription credentials stay in Anthropic's own apps. */
export const ANTHROPIC_SUBSCRIPTION_REASON =
  'Anthropic does not allow Claude subscription credentials in third-party tools; use an API key';

/** A credential offered for import, with the tool's own name for its provider. */
interface Offer {
  outcome: 'import';
  /** The tool's name for the provider, e.g. `claude` in llm's keys.json. */
  name: string;
  /** How the skipped list refers to it if another offer wins. */
  what: string;
  candidate: ImportCandidate;
}

/** One thing found in a source file: a credential to import, or something left out and why. */
export type Finding = Offer | { outcome: 'skip'; skipped: Skipped };

type OAuthTokens = Omit<Extract<ImportCandidate, { kind: 'oauth' }>, 'kind' | 'provider'>;

/** The built-in provider a tool's name stands for: `renames` holds the names that differ from loginkit ids. */
export function lookupProvider(name: string, renames: Readonly<Record<string, string>>): ProviderSpec | undefined {
  const id = Object.hasOwn(renames, name) ? renames[name] : name;
  return BUILTIN_PROVIDERS.find((provider) => provider.id === id);
}

/** A name from a source file, quoted and safe to print (a file can hold terminal escape sequences). */
export function quoted(name: string): string {
  return JSON.stringify(sanitizeServerText(name, 80));
}

export function skip(what: string, reason: string): Finding {
  return { outcome: 'skip', skipped: { what, reason } };
}

export function offerApiKey(provider: ProviderSpec, name: string, what: string, key: string, origin: string): Finding {
  if (!provider.methods.includes('api_key')) {
    return skip(what, `loginkit does not take API keys for ${provider.displayName}`);
  }
  // Keys never contain whitespace; a trailing newline is a paste accident, not part of the key.
  const trimmed = key.trim();
  if (trimmed === '') return skip(what, 'the key is empty');
  // A Claude subscription token (sk-ant-oat…) filed as an API key is still a subscription credential.
  if (provider.id === 'anthropic' && trimmed.startsWith('sk-ant-oat')) {
    return skip(what, ANTHROPIC_SUBSCRIPTION_REASON);
  }
  return { outcome: 'import', name, what, candidate: { kind: 'api_key', provider: provider.id, key: trimmed, origin } };
}

export function offerOAuth(provider: ProviderSpec, name: string, what: string, tokens: OAuthTokens): Finding {
  if (provider.id === 'anthropic') return skip(what, ANTHROPIC_SUBSCRIPTION_REASON);
  if (!provider.methods.includes('oauth')) {
    return skip(what, `loginkit has no OAuth sign-in for ${provider.displayName}, so it could not refresh these tokens`);
  }
  if (tokens.accessToken === '') return skip(what, 'the access token is empty');
  return { outcome: 'import', name, what, candidate: { kind: 'oauth', provider: provider.id, ...tokens } };
}

/**
 * The plan's two lists, in file order. When a file holds two credentials of the same kind for one
 * provider (llm's `claude` and `anthropic`), the one stored under the loginkit id wins, else the first.
 */
export function collectPlan(findings: readonly Finding[]): { candidates: ImportCandidate[]; skipped: Skipped[] } {
  const slot = (offer: Offer): string => `${offer.candidate.provider}\u0000${offer.candidate.kind}`;
  const isCanonical = (offer: Offer): boolean => offer.name === offer.candidate.provider;
  const winners = new Map<string, Offer>();
  for (const finding of findings) {
    if (finding.outcome !== 'import') continue;
    const current = winners.get(slot(finding));
    if (!current || (isCanonical(finding) && !isCanonical(current))) winners.set(slot(finding), finding);
  }

  const candidates: ImportCandidate[] = [];
  const skipped: Skipped[] = [];
  for (const finding of findings) {
    if (finding.outcome === 'skip') {
      skipped.push(finding.skipped);
      continue;
    }
    const winner = winners.get(slot(finding));
    if (winner === finding) {
      candidates.push(finding.candidate);
    } else if (winner) {
      const kind = finding.candidate.kind === 'oauth' ? 'OAuth tokens' : 'API key';
      const reason = `duplicate: ${finding.candidate.provider} already gets its ${kind} from ${winner.what}`;
      skipped.push({ what: finding.what, reason });
    }
  }
  return { candidates, skipped };
}
