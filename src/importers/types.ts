// What an import finds in another tool's credentials file, before anything is stored.

/** A tool whose credentials loginkit can import. */
export type ImportSource = 'codex' | 'opencode' | 'llm';

/** The sources `loginkit import` accepts, in the order help lists them. */
export const IMPORT_SOURCES: readonly ImportSource[] = ['codex', 'opencode', 'llm'];

/** A credential found in a source file, ready to be stored under a loginkit provider. */
export type ImportCandidate =
  | {
      kind: 'api_key';
      /** loginkit provider id. */
      provider: string;
      key: string;
      /** Where it was found, e.g. `codex auth.json OPENAI_API_KEY`; never a secret. */
      origin: string;
    }
  | {
      kind: 'oauth';
      provider: string;
      accessToken: string;
      refreshToken?: string;
      idToken?: string;
      /** Absolute expiry in ms since the epoch; null when the source does not say. */
      expiresAt: number | null;
      accountId?: string;
      /** The key of the entry inside the file, where the file holds several (opencode's provider ids). */
      entry?: string;
      origin: string;
    };

/** Something in the source file that will not be imported. Neither field ever holds a secret. */
export interface Skipped {
  /** What it is, e.g. `opencode "anthropic" (oauth)`. */
  what: string;
  /** Why it is left out, in a sentence the person can act on. */
  reason: string;
}

/** Everything one source file offers: what can be imported and what cannot. */
export interface ImportPlan {
  source: ImportSource;
  /** The file that was read. */
  file: string;
  candidates: ImportCandidate[];
  skipped: Skipped[];
}
