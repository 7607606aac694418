import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Agent } from 'undici';
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

/** The class of an IP address; an IPv6 form that carries an IPv4 address is judged by that address. */
export function addressClass(address: string): AddressClass {
  const ip = embeddedIpv4(address.replace(/^\[|\]$/g, '')) ?? address.replace(/^\[|\]$/g, '');
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (loopback.check(ip, family)) return 'loopback';
  if (linkLocal.check(ip, family)) return 'link-local';
  if (privateRanges.check(ip, family)) return 'private';
  if (neverRanges.check(ip, family)) return 'reserved';
  return 'public';
}

/**
 * The IPv4 address inside an IPv6 one that routes to it: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96` (RFC 6052) and `64:ff9b:1::/48` (RFC 8215), 6to4 `2002::/16` (RFC 3056);
 * undefined for anything else. Node's URL parser writes these in hex (`::ffff:7f00:1`), so both forms count.
 */
export function embeddedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const words = ipv6Words(address);
  const ipv4 = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zero = (from: number, to: number): boolean => words.slice(from, to).every((word) => word === 0);
  if (zero(0, 5) && words[5] === 0xffff) return ipv4(words[6] ?? 0, words[7] ?? 0);
  // `::` and `::1` are themselves (unspecified, loopback), not IPv4-compatible addresses.
  if (zero(0, 6) && (words[6] !== 0 || (words[7] ?? 0) > 1)) return ipv4(words[6] ?? 0, words[7] ?? 0);
  if (words[0] === 0x64 && words[1] === 0xff9b && (zero(2, 6) || words[2] === 1)) return ipv4(words[6] ?? 0, words[7] ?? 0);
  if (words[0] === 0x2002) return ipv4(words[1] ?? 0, words[2] ?? 0);
  return undefined;
}

/** The eight 16-bit words of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part converted). */
function ipv6Words(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] => (part ? part.split(':').map((word) => parseInt(word, 16)) : []);
  const first = parse(head);
  const last = tail === undefined ? [] : parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/**
 * The policy for URLs a server at `serverUrl` hands out. A range opens only when every address of the
 * server's name is in it: a public name that also resolves to `::1` (anyone can publish such a record) must
 * not open loopback for the URLs it names.
 */
export async function policyFor(serverUrl: URL, resolve: Resolver = defaultResolver): Promise<AddressPolicy> {
  const classes: AddressClass[] = await hostClasses(serverUrl.hostname, resolve)
    .then((found) => found.map(({ kind }) => kind))
    .catch((): AddressClass[] => ['public']);
  const every = (allowed: readonly AddressClass[]): boolean => classes.length > 0 && classes.every((kind) => allowed.includes(kind));
  return {
    allowLoopback: every(['loopback']),
    allowPrivate: classes.includes('private') && every(['private', 'loopback']),
  };
}

/** Resolves a host name to its addresses. */
export type Resolver = (hostname: string) => Promise<string[]>;

const defaultResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The loopback addresses `localhost` names (RFC 6761 §6.3): never asked of DNS. */
const LOCALHOST_ADDRESSES = ['127.0.0.1', '::1'];

async function hostClasses(hostname: string, resolve: Resolver): Promise<{ address: string; kind: AddressClass }[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const name = bare.toLowerCase();
  const addresses = name === 'localhost' || name.endsWith('.localhost') ? LOCALHOST_ADDRESSES : isIP(bare) ? [bare] : await resolve(bare);
  return addresses.map((address) => ({ address, kind: addressClass(address) }));
}

/**
 * Throws ForbiddenAddressError when `url` may not be fetched under `policy`; resolves the host to decide.
 * Answers with the addresses it vetted: connect to those (see {@link createGuardedFetch}), not to a second
 * resolution of the name, which a DNS-rebinding server could answer differently.
 */
export async function checkUrl(url: URL, policy: AddressPolicy, resolve: Resolver = defaultResolver): Promise<string[]> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ForbiddenAddressError(url.href, `${url.protocol} is not http(s)`);
  if (url.username || url.password) throw new ForbiddenAddressError(url.href, 'it carries credentials');
  let found: { address: string; kind: AddressClass }[];
  try {
    found = await hostClasses(url.hostname, resolve);
  } catch (error) {
    throw new NetworkError('network', url.host, `Cannot resolve ${url.host}.`, { cause: error });
  }
  if (found.length === 0) throw new NetworkError('network', url.host, `Cannot resolve ${url.host}: it has no address.`);
  for (const { kind } of found) {
    if (kind === 'public') continue;
    if (kind === 'loopback' && policy.allowLoopback) continue;
    if (kind === 'private' && policy.allowPrivate) continue;
    throw new ForbiddenAddressError(url.href, `${url.hostname} is a ${kind} address`);
  }
  if (url.protocol === 'http:' && !found.every(({ kind }) => kind === 'loopback')) {
    throw new ForbiddenAddressError(url.href, 'plain http is allowed only on loopback');
  }
  return found.map(({ address }) => address);
}

/**
 * A fetch for URLs that servers supply (metadata, registration, token endpoints): checks every address
 * against `policy` before connecting and connects only to the addresses it checked (the name is not resolved
 * twice), follows at most three redirects of a GET itself (checking each) and none of any other request, and
 * caps the body at `maxBytes`. Time is bounded by `http` (loginkit's bounded fetch).
 *
 * A token, registration or revocation request answered with a redirect is an error naming the endpoint:
 * following a 307/308 would send the code verifier, a client secret or a refresh token on to wherever the
 * server points, as `openid-client` refuses to. With a proxy (`HTTPS_PROXY`) the proxy resolves the name.
 */
export function createGuardedFetch(
  http: FetchLike,
  policy: AddressPolicy,
  options: { maxBytes?: number; resolve?: Resolver } = {},
): FetchLike {
  const maxBytes = options.maxBytes ?? MAX_DOCUMENT_BYTES;
  return async (input, init = {}) => {
    let url = new URL(String(input));
    const request: RequestInit = { ...init, redirect: 'manual' };
    for (let hop = 0; ; hop++) {
      const addresses = await checkUrl(url, policy, options.resolve);
      // An address in the URL leaves nothing to resolve; a name is connected to at the addresses checked.
      const pinned = isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : await pinnedDispatcher(addresses);
      try {
        // Object.assign: npm undici's Agent and the Dispatcher type of Node's bundled undici differ only in typing.
        const response = await http(url, pinned ? Object.assign({}, request, { dispatcher: pinned }) : request);
        const location = response.headers.get('location');
        if (response.status >= 300 && response.status < 400 && location) {
          await response.body?.cancel().catch(() => undefined);
          const method = (request.method ?? 'GET').toUpperCase();
          if (method !== 'GET' && method !== 'HEAD') throw redirectRefused(url, method, response.status);
          if (hop >= MAX_REDIRECTS)
            throw new NetworkError('network', url.host, `${url.host} redirected more than ${MAX_REDIRECTS} times.`, { transient: false });
          url = redirectTarget(location, url);
          continue;
        }
        return await capBody(response, maxBytes, url);
      } finally {
        await pinned?.destroy().catch(() => undefined);
      }
    }
  };
}

/** Where a redirect's `Location` points, relative to `from`; one that is not a URL is an error naming `from`. */
export function redirectTarget(location: string, from: URL): URL {
  if (!URL.canParse(location, from.href))
    throw new NetworkError('network', from.host, `${from.origin}${from.pathname} redirected to something that is not a URL; refusing it.`, {
      transient: false,
    });
  return new URL(location, from);
}

/** A POST (token, registration, revocation) answered with a redirect: never followed. */
function redirectRefused(url: URL, method: string, status: number): NetworkError {
  return new NetworkError(
    'network',
    url.host,
    `${url.origin}${url.pathname} answered the ${method} with a redirect (HTTP ${status}); loginkit does not follow redirects of token, registration or revocation requests, so nothing was sent on.`,
    { transient: false },
  );
}

let undici: Promise<typeof import('undici')> | undefined;

/**
 * A dispatcher that connects only to `addresses` (those checked), whatever the name resolves to by then.
 * One per request, closed after it: no connection outlives the check that vetted its address. undici is
 * loaded on first use (most commands never fetch a server-supplied URL).
 */
async function pinnedDispatcher(addresses: readonly string[]): Promise<Agent> {
  undici ??= import('undici');
  const { Agent } = await undici;
  const entries = addresses.map((address) => ({ address, family: isIP(address) }));
  const lookup = (
    _hostname: string,
    options: { all?: boolean },
    callback: (error: Error | null, address: string | { address: string; family: number }[], family?: number) => void,
  ): void => {
    if (options.all) callback(null, entries);
    else callback(null, entries[0]?.address ?? '', entries[0]?.family ?? 4);
  };
  return new Agent({ connect: { lookup } });
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
