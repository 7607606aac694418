import { createHash, randomUUID } from 'node:crypto';

/** A stored DPoP key pair (public and private JWK) and its algorithm. */
export interface DpopKeyJwks {
  readonly privateJwk: Record<string, unknown> & { kty: string };
  readonly publicJwk: Record<string, unknown> & { kty: string };
  readonly alg: string;
}

/**
 * A DPoP proof (RFC 9449 §4) for one request to a resource server: `htm`, `htu` without query and fragment,
 * `iat`, a fresh `jti`, `ath` (the access token's hash) and the server's `nonce` when it gave one.
 */
export async function createDpopProof(
  key: DpopKeyJwks,
  request: { method: string; url: URL; accessToken?: string | undefined; nonce?: string | undefined },
): Promise<string> {
  const { SignJWT, importJWK } = await import('jose');
  const privateKey = await importJWK(key.privateJwk, key.alg);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = key.publicJwk;
  const htu = `${request.url.origin}${request.url.pathname}`;
  return new SignJWT({
    htm: request.method.toUpperCase(),
    htu,
    jti: randomUUID(),
    ...(request.accessToken ? { ath: createHash('sha256').update(request.accessToken).digest('base64url') } : {}),
    ...(request.nonce ? { nonce: request.nonce } : {}),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: publicJwk as never })
    .setIssuedAt()
    .sign(privateKey);
}
