import { isIPv4, isIPv6 } from 'node:net';

type Range = readonly [base: number[], prefix: number];

/** Dotted IPv4 as one 32-bit number; the caller has checked it with isIPv4. */
function ipv4Value(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** IPv6 as eight 16-bit groups (a trailing dotted IPv4 included); the caller has checked it. */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v = ipv4Value(dotted[1]);
    text = `${text.slice(0, dotted.index)}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const zeros = tail === undefined ? 0 : 8 - front.length - back.length;
  return [...front, ...new Array<number>(zeros).fill(0), ...back];
}

function inRange(bits: number[], width: number, [base, prefix]: Range): boolean {
  for (let i = 0, left = prefix; left > 0; i++, left -= width) {
    const mask = left >= width ? 2 ** width - 1 : (2 ** width - 1) ^ (2 ** (width - left) - 1);
    if ((bits[i] & mask) !== (base[i] & mask)) return false;
  }
  return true;
}

/** Not reachable on the public internet, or not meant to be: RFC 6890 special-purpose space. */
const INTERNAL_V4: Range[] = [
  [[0, 0, 0, 0], 8], // "this network", 0.0.0.0 unspecified
  [[10, 0, 0, 0], 8],
  [[100, 64, 0, 0], 10], // carrier-grade NAT
  [[127, 0, 0, 0], 8],
  [[169, 254, 0, 0], 16],
  [[172, 16, 0, 0], 12],
  [[192, 0, 0, 0], 24],
  [[192, 168, 0, 0], 16],
  [[198, 18, 0, 0], 15],
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved, broadcast
];

const INTERNAL_V6: Range[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0], 96], // unspecified, loopback, IPv4-compatible
  [[0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48], // local-use NAT64
  [[0x100, 0, 0, 0, 0, 0, 0, 0], 64], // discard
  [[0x2001, 0, 0, 0, 0, 0, 0, 0], 32], // Teredo
  [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32], // documentation
  [[0xfc00, 0, 0, 0, 0, 0, 0, 0], 7], // unique local
  [[0xfe80, 0, 0, 0, 0, 0, 0, 0], 10], // link-local
  [[0xfec0, 0, 0, 0, 0, 0, 0, 0], 10], // site-local (deprecated)
  [[0xff00, 0, 0, 0, 0, 0, 0, 0], 8], // multicast
];

/** IPv6 prefixes that carry an IPv4 address, which decides: mapped, NAT64, 6to4. */
const EMBEDDING_V4: (readonly [Range, (g: number[]) => number[]])[] = [
  [[[0, 0, 0, 0, 0, 0xffff, 0, 0], 96], (g) => [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255]],
  [[[0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96], (g) => [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255]],
  [[[0x2002, 0, 0, 0, 0, 0, 0, 0], 16], (g) => [g[1] >> 8, g[1] & 255, g[2] >> 8, g[2] & 255]],
];

function internalV4(octets: number[]): boolean {
  return INTERNAL_V4.some((range) => inRange(octets, 8, range));
}

/**
 * Whether an IP address (as `net` or the WHATWG URL parser writes it, IPv6 without brackets)
 * is loopback, link-local, private, unique-local, unspecified or otherwise special-purpose.
 * Anything that is not a valid address counts as internal: refusing is the safe answer.
 */
export function isInternalAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    const v = ipv4Value(ip);
    return internalV4([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
  }
  if (!isIPv6(ip)) return true;
  const groups = ipv6Groups(ip);
  const embedding = EMBEDDING_V4.find(([range]) => inRange(groups, 16, range));
  if (embedding) return internalV4(embedding[1](groups));
  return INTERNAL_V6.some((range) => inRange(groups, 16, range));
}

/**
 * Whether a URL host (WHATWG `hostname`: IPv4 dotted, `[IPv6]`, or a lower-case domain without
 * a trailing dot) names an internal address literally. `localhost` and `*.localhost` always
 * resolve to loopback (RFC 6761); other names are checked when they are resolved.
 */
export function isInternalHost(hostname: string): boolean {
  if (hostname.startsWith('[') && hostname.endsWith(']'))
    return isInternalAddress(hostname.slice(1, -1));
  if (isIPv4(hostname)) return isInternalAddress(hostname);
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/** Loopback only (127.0.0.0/8, ::1, IPv4-mapped loopback, localhost): for the http exception. */
export function isLoopbackHost(hostname: string): boolean {
  const ip = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIPv4(ip)) return ip.startsWith('127.');
  if (isIPv6(ip)) {
    const g = ipv6Groups(ip);
    const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff && g[6] >> 8 === 127;
    return mapped || (g.slice(0, 7).every((x) => x === 0) && g[7] === 1);
  }
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}
