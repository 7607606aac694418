import * as client from 'openid-client';

/** A PKCE verifier (kept secret, sent only to the token endpoint) and its S256 challenge. */
export interface PkcePair {
  readonly verifier: string;
  readonly challenge: string;
}

/** A fresh PKCE pair (RFC 7636): 32 random bytes as base64url (43 characters), challenge = BASE64URL(SHA-256(verifier)). */
export async function createPkcePair(): Promise<PkcePair> {
  const verifier = client.randomPKCECodeVerifier();
  return { verifier, challenge: await client.calculatePKCECodeChallenge(verifier) };
}

/** The S256 challenge for a verifier. */
export function pkceChallenge(verifier: string): Promise<string> {
  return client.calculatePKCECodeChallenge(verifier);
}

/** A fresh `state`: 256 random bits, base64url. */
export function createState(): string {
  return client.randomState();
}
