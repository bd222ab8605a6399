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

const REQUEST_LINE = /^(GET|HEAD) (\/\S*) HTTP\/1\.1$/;
/** RFC 9110 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Anything but HTAB, visible ASCII, SP and the CR LF that end lines. */
const UNSAFE = /[^\t\r\n\x20-\x7e]/;
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');

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

export function readSimpleRequestHead(
  buffer: Buffer,
  paths: ReadonlySet<string>,
  maxHeadBytes: number,
): SimpleRequestHead | undefined {
  const end = buffer.indexOf(END_OF_HEAD);
  if (end < 0 || end + END_OF_HEAD.length > maxHeadBytes) return undefined;
  const head = buffer.toString('latin1', 0, end);
  if (UNSAFE.test(head)) return undefined;
  const lines = head.split('\r\n');
  const line = REQUEST_LINE.exec(lines[0]);
  if (!line || !paths.has(line[2])) return undefined;

  const headers: Record<string, string> = {};
  let host: string | undefined;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i];
    if (text.includes('\r') || text.includes('\n')) return undefined;
    const colon = text.indexOf(':');
    if (colon <= 0) return undefined;
    const name = text.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = text.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (REFUSED.has(lower)) return undefined;
    if (lower === 'host') {
      if (host !== undefined || value === '') return undefined;
      host = value;
    } else if (lower === 'connection') {
      const options = value.toLowerCase().split(',');
      for (const o of options) {
        const option = o.trim();
        if (option === 'upgrade') return undefined;
        if (option === 'close') close = true;
      }
    } else if (KEPT.has(lower)) {
      headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
    }
  }
  // HTTP/1.1 requires exactly one Host; Node answers a request without one with 400.
  if (host === undefined) return undefined;
  return {
    request: { method: line[1] as 'GET' | 'HEAD', path: line[2], headers, close },
    length: end + END_OF_HEAD.length,
  };
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
