/**
 * A strict reader of the simplest HTTP/1.1 requests: a bodiless GET or HEAD of one of a few
 * known paths. It accepts only what it fully understands and answers `undefined` for anything
 * else (an incomplete head, another method, path or protocol version, a body, credentials,
 * an upgrade, any byte outside visible ASCII, a bare CR or LF, an obsolete line fold), so the
 * caller can leave that request, untouched, to Node's own parser.
 */

/** Request headers a simple request keeps; every other header is read past. */
const KEPT = new Set(['if-none-match', 'accept-encoding', 'x-request-id']);
/** Headers that make a request anything but simple. */
const REFUSED = new Set([
  'authorization',
  'proxy-authorization',
  'content-length',
  'transfer-encoding',
  'expect',
  'upgrade',
]);

/** The names that matter, by length, to recognise one without making text of every name. */
const NAMES_BY_LENGTH = new Map<number, string[]>();
for (const name of [...KEPT, ...REFUSED, 'host', 'connection'])
  NAMES_BY_LENGTH.set(name.length, [...(NAMES_BY_LENGTH.get(name.length) ?? []), name]);
/** RFC 9110 tchar, by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) TCHAR[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) TCHAR[b] = TCHAR[b + 0x20] = 1;
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');
const HTTP11 = Buffer.from(' HTTP/1.1\r\n', 'latin1');
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;

export interface SimpleRequest {
  readonly method: 'GET' | 'HEAD';
  readonly path: string;
  /** Lower-case names, repeated headers joined with ", " as Node does. */
  readonly headers: Readonly<Record<string, string>>;
  /** The client asked to close the connection after this answer. */
  readonly close: boolean;
}

export interface SimpleRequestHead {
  readonly request: SimpleRequest;
  /** Bytes of `buffer` the head takes, the blank line included. */
  readonly length: number;
}

const SIMPLE_PREFIXES = ['GET /', 'HEAD /'].map((p) => Buffer.from(p, 'latin1'));

/**
 * True while `buffer` holds no whole head yet but may still become a simple request: it is the
 * beginning of "GET /" or "HEAD /" (or longer and starts with one), shorter than the limit, its
 * lines so far end in CRLF and its request line, once whole, in " HTTP/1.1". The caller waits for
 * more bytes instead of giving up on the connection (pipelined requests split across reads); a
 * head that can no longer become simple (bare LF line ends, no version) goes to Node at once,
 * which refuses or answers it without waiting for a blank line that may never come.
 */
export function mayBecomeSimpleRequest(buffer: Buffer, maxHeadBytes: number): boolean {
  if (buffer.length >= maxHeadBytes || buffer.includes(END_OF_HEAD)) return false;
  const simplePrefix = SIMPLE_PREFIXES.some((prefix) => {
    const n = Math.min(prefix.length, buffer.length);
    return buffer.subarray(0, n).equals(prefix.subarray(0, n));
  });
  if (!simplePrefix) return false;
  const firstLf = buffer.indexOf(LF);
  if (firstLf >= 0 && !bytesAre(buffer, firstLf + 1 - HTTP11.length, HTTP11)) return false;
  for (let lf = firstLf; lf >= 0; lf = buffer.indexOf(LF, lf + 1))
    if (buffer[lf - 1] !== CR) return false;
  for (let cr = buffer.indexOf(CR); cr >= 0; cr = buffer.indexOf(CR, cr + 1))
    if (cr + 1 < buffer.length && buffer[cr + 1] !== LF) return false;
  return true;
}

export function readSimpleRequestHead(
  buffer: Buffer,
  paths: ReadonlySet<string>,
  maxHeadBytes: number,
): SimpleRequestHead | undefined {
  const end = buffer.indexOf(END_OF_HEAD);
  if (end < 0 || end + END_OF_HEAD.length > maxHeadBytes) return undefined;

  // Request line: "GET " or "HEAD ", the path, " HTTP/1.1" CRLF; one byte at a time, no copies.
  let method: 'GET' | 'HEAD';
  let i: number;
  if (buffer[0] === 0x47 && buffer[1] === 0x45 && buffer[2] === 0x54 && buffer[3] === SP) {
    method = 'GET';
    i = 4;
  } else if (
    buffer[0] === 0x48 &&
    buffer[1] === 0x45 &&
    buffer[2] === 0x41 &&
    buffer[3] === 0x44 &&
    buffer[4] === SP
  ) {
    method = 'HEAD';
    i = 5;
  } else return undefined;
  const pathStart = i;
  while (i < end && buffer[i] > SP && buffer[i] < 0x7f) i++;
  const path = buffer.toString('latin1', pathStart, i);
  if (!paths.has(path) || !bytesAre(buffer, i, HTTP11)) return undefined;
  i += HTTP11.length;

  const headers: Record<string, string> = {};
  let host = false;
  let close = false;
  const stop = end + 2; // the CRLF that ends the last header line
  while (i < stop) {
    const nameStart = i;
    while (TCHAR[buffer[i]]) i++;
    if (i === nameStart || buffer[i] !== 0x3a) return undefined; // empty name, or not ":"
    const nameEnd = i++;
    // The value: HTAB, SP and visible ASCII only, up to CRLF; a bare CR or LF is refused.
    while (buffer[i] === SP || buffer[i] === HTAB) i++;
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      const b = buffer[i];
      if (b === CR) break;
      if ((b < SP && b !== HTAB) || b > 0x7e) return undefined;
      i++;
      if (b !== SP && b !== HTAB) valueEnd = i;
    }
    if (buffer[i + 1] !== LF) return undefined;
    i += 2;

    const name = nameAt(buffer, nameStart, nameEnd);
    if (name === undefined) continue;
    if (REFUSED.has(name)) return undefined;
    if (name === 'host') {
      if (host || valueEnd === valueStart) return undefined;
      host = true;
    } else if (name === 'connection') {
      for (const o of buffer.toString('latin1', valueStart, valueEnd).toLowerCase().split(',')) {
        const option = o.trim();
        if (option === 'upgrade') return undefined;
        if (option === 'close') close = true;
      }
    } else if (KEPT.has(name)) {
      const value = buffer.toString('latin1', valueStart, valueEnd);
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
  }
  // HTTP/1.1 requires exactly one Host; Node answers a request without one with 400.
  if (!host) return undefined;
  return {
    request: { method, path, headers, close },
    length: end + END_OF_HEAD.length,
  };
}

function bytesAre(buffer: Buffer, at: number, expected: Buffer): boolean {
  for (let k = 0; k < expected.length; k++) if (buffer[at + k] !== expected[k]) return false;
  return true;
}

/** The lower-case name of the header at start..end if it is one that matters, else undefined. */
function nameAt(buffer: Buffer, start: number, end: number): string | undefined {
  const candidates = NAMES_BY_LENGTH.get(end - start);
  if (!candidates) return undefined;
  next: for (const name of candidates) {
    for (let k = 0; k < name.length; k++) {
      // ASCII letters compare case-insensitively; tchar has no byte that | 0x20 confuses.
      if ((buffer[start + k] | 0x20) !== (name.charCodeAt(k) | 0x20)) continue next;
    }
    return name;
  }
  return undefined;
}

export interface FrontAnswer {
  readonly status: number;
  /** Every header but Date, Connection and Keep-Alive, which the front writes. */
  readonly headers: Readonly<Record<string, string>>;
  /** Sent for GET only; a HEAD answer carries the GET's Content-Length and no body. */
  readonly body?: Buffer;
}

/** Answers a simple request, or leaves it (undefined, or a rejected promise) to Node's HTTP server. */
export type FrontHandler = (
  request: SimpleRequest,
) => FrontAnswer | undefined | Promise<FrontAnswer | undefined>;
