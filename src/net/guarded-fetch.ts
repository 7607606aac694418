import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { LoginkitError, NetworkError } from '../errors.js';
import type { FetchLike } from './http.js';

/** Largest metadata or registration document read from a server. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
const MAX_REDIRECTS = 3;

/** Which address ranges a server-supplied URL may reach: decided by where the MCP server itself is. */
export interface AddressPolicy {
  /** The MCP server is on loopback: loopback addresses are allowed too (local development, tests). */
  allowLoopback: boolean;
  /** The MCP server is on a private network: private addresses are allowed too. */
  allowPrivate: boolean;
}

/** Refusal of a server-supplied URL (SSRF protection); `code: 'configuration'`, nothing was requested. */
export class ForbiddenAddressError extends LoginkitError {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(
      'configuration',
      `Refusing to fetch ${url}: ${reason}.\nA server named this address; loginkit never follows one into a private, link-local or loopback network (unless the MCP server itself is there).`,
    );
  }
}

const linkLocal = new BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocal.addSubnet('fe80::', 10, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
const privateRanges = new BlockList();
for (const [net, bits] of [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
  ['198.18.0.0', 15],
] as const) {
  privateRanges.addSubnet(net, bits, 'ipv4');
}
privateRanges.addSubnet('fc00::', 7, 'ipv6');
const neverRanges = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  neverRanges.addSubnet(net, bits, 'ipv4');
neverRanges.addAddress('::', 'ipv6');
neverRanges.addSubnet('ff00::', 8, 'ipv6');

/** The class of an IP address: `public`, `loopback`, `private`, `link-local` or `reserved`. */
export type AddressClass = 'public' | 'loopback' | 'private' | 'link-local' | 'reserved';

/** The class of an IP address. */
export function addressClass(address: string): AddressClass {
  let ip = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1] as string;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (loopback.check(ip, family)) return 'loopback';
  if (linkLocal.check(ip, family)) return 'link-local';
  if (privateRanges.check(ip, family)) return 'private';
  if (neverRanges.check(ip, family)) return 'reserved';
  return 'public';
}

/** The policy for URLs a server at `serverUrl` hands out. */
export async function policyFor(serverUrl: URL, resolve: Resolver = defaultResolver): Promise<AddressPolicy> {
  const classes: AddressClass[] = await hostClasses(serverUrl.hostname, resolve).catch((): AddressClass[] => ['public']);
  return { allowLoopback: classes.includes('loopback'), allowPrivate: classes.includes('private') };
}

/** Resolves a host name to its addresses. */
export type Resolver = (hostname: string) => Promise<string[]>;

const defaultResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

async function hostClasses(hostname: string, resolve: Resolver): Promise<AddressClass[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (bare.toLowerCase() === 'localhost' || bare.toLowerCase().endsWith('.localhost')) return ['loopback'];
  const addresses = isIP(bare) ? [bare] : await resolve(bare);
  return addresses.map(addressClass);
}

/** Throws ForbiddenAddressError when `url` may not be fetched under `policy`; resolves the host to decide. */
export async function checkUrl(url: URL, policy: AddressPolicy, resolve: Resolver = defaultResolver): Promise<void> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ForbiddenAddressError(url.href, `${url.protocol} is not http(s)`);
  if (url.username || url.password) throw new ForbiddenAddressError(url.href, 'it carries credentials');
  let classes: AddressClass[];
  try {
    classes = await hostClasses(url.hostname, resolve);
  } catch (error) {
    throw new NetworkError('network', url.host, `Cannot resolve ${url.host}.`, { cause: error });
  }
  for (const kind of classes) {
    if (kind === 'public') continue;
    if (kind === 'loopback' && policy.allowLoopback) continue;
    if (kind === 'private' && policy.allowPrivate) continue;
    throw new ForbiddenAddressError(url.href, `${url.hostname} is a ${kind} address`);
  }
  if (url.protocol === 'http:' && !classes.every((kind) => kind === 'loopback')) {
    throw new ForbiddenAddressError(url.href, 'plain http is allowed only on loopback');
  }
}

/**
 * A fetch for URLs that servers supply (metadata, registration, token endpoints): checks every address
 * against `policy` before connecting, follows at most three redirects itself (checking each), and caps the
 * body at `maxBytes`. Time is bounded by `http` (loginkit's bounded fetch).
 */
export function createGuardedFetch(
  http: FetchLike,
  policy: AddressPolicy,
  options: { maxBytes?: number; resolve?: Resolver } = {},
): FetchLike {
  const maxBytes = options.maxBytes ?? MAX_DOCUMENT_BYTES;
  return async (input, init = {}) => {
    let url = new URL(String(input));
    let request: RequestInit = { ...init, redirect: 'manual' };
    for (let hop = 0; ; hop++) {
      await checkUrl(url, policy, options.resolve);
      const response = await http(url, request);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS)
          throw new NetworkError('network', url.host, `${url.host} redirected more than ${MAX_REDIRECTS} times.`, { transient: false });
        url = new URL(location, url);
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && request.method === 'POST')) {
          const { body: _body, ...rest } = request;
          request = { ...rest, method: 'GET' };
        }
        continue;
      }
      return capBody(response, maxBytes, url);
    }
  };
}

/** The response with its body read up to `maxBytes` (more is an error), so callers can parse it safely. */
async function capBody(response: Response, maxBytes: number, url: URL): Promise<Response> {
  if (!response.body) return response;
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge(url, maxBytes);
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(url, maxBytes);
    }
    chunks.push(value);
  }
  const body = Buffer.concat(chunks);
  const capped = new Response(response.status === 204 || response.status === 304 ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(capped, 'url', { value: url.href });
  return capped;
}

function tooLarge(url: URL, maxBytes: number): NetworkError {
  return new NetworkError(
    'network',
    url.host,
    `${url.host} sent more than ${Math.round(maxBytes / 1024)} KiB for ${url.pathname}; refusing it.`,
    { transient: false },
  );
}
