import {
  ServerResponse,
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { Socket } from 'node:net';

/** A request body still arriving when the answer starts is read and dropped up to this size. */
export const DRAINED_BODY_BYTES = 64 * 1024;

/**
 * A connection closed on a body still arriving goes on reading (and dropping) it until the client
 * stops sending for LINGER_IDLE_MS, and for LINGER_MAX_MS at most (Apache's and nginx's bounds).
 */
export const LINGER_IDLE_MS = 2_000;
export const LINGER_MAX_MS = 30_000;

/**
 * Whether the body of `req` may still be arriving, and more of it than is worth reading to keep
 * the connection: a declared length over DRAINED_BODY_BYTES, or a chunked body (of any length).
 * A request without a body is never one, even before Node has marked it complete.
 */
export function unreadBodyTooLarge(req: IncomingMessage): boolean {
  if (req.complete) return false;
  if (req.headers['transfer-encoding'] !== undefined) return true;
  // Node's parser has refused any Content-Length that is not one decimal number.
  return Number(req.headers['content-length'] ?? 0) > DRAINED_BODY_BYTES;
}

/**
 * A Node response that does not let a request body the route never read stand between the
 * client and its next request on the connection. Routes answer early without reading the body
 * (401 before an upload part, 404, 415): the rest of that body would still have to cross the
 * connection before the next request, and a client that stopped sending it when it got the
 * answer waited out the keep-alive timeout instead.
 *
 * - When the answer starts while a large body is still arriving (unreadBodyTooLarge), it says
 *   Connection: close; the connection then closes in the manner of a lingering close.
 * - Whatever is left of the body after the answer is read and dropped, so a small remainder
 *   does not hold up the next request on the kept connection (Node does the same, but only for
 *   a body that nobody began to read).
 */
export class UnreadBodyResponse extends ServerResponse {
  /** Its connection's responses under way (trackUnderWay), which it leaves when it closes. */
  underWay: ServerResponse[] | undefined;

  constructor(req: IncomingMessage) {
    super(req);
    trackUnderWay(req.socket, this);
    if (
      req.headers['content-length'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined
    )
      this.once('finish', () => {
        if (req.readableEnded) return;
        req.unpipe();
        req.removeAllListeners('data');
        req.resume();
      });
  }

  override writeHead(
    statusCode: number,
    reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (!this.headersSent && unreadBodyTooLarge(this.req)) {
      this.setHeader('connection', 'close');
      // Node ends a connection after its last answer with destroySoon(), when it has one.
      this.req.socket.destroySoon = lingeringClose;
    }
    // Node's writeHead tells a reason phrase from headers by its type, as the overloads do.
    return super.writeHead(statusCode, reasonOrHeaders as string, headers);
  }
}

/**
 * The responses of each connection that have not finished, oldest first (pipelined requests are
 * answered in order), from Node's public events: Node keeps the one on the wire in a private
 * socket field, which the server does not read.
 */
const underWay = new WeakMap<object, ServerResponse[]>();

function trackUnderWay(socket: object, res: UnreadBodyResponse): void {
  let queue = underWay.get(socket);
  if (!queue) underWay.set(socket, (queue = []));
  queue.push(res);
  res.underWay = queue;
  // 'close': the response finished, or its connection went away first. One listener shared by
  // every response (no closure, no once() wrapper): this runs for every request.
  res.on('close', leaveUnderWay);
}

function leaveUnderWay(this: UnreadBodyResponse): void {
  const list = this.underWay;
  if (!list) return;
  this.underWay = undefined;
  // Nearly always the oldest (answers go out in order), which indexOf finds first.
  const i = list.indexOf(this);
  if (i === 0) list.shift();
  else if (i > 0) list.splice(i, 1);
}

/** The response on the wire of a connection, if a request is under way on it. */
export function responseUnderWay(socket: object): ServerResponse | undefined {
  return underWay.get(socket)?.[0];
}

/** The last response a connection owes (its latest request's), if any. */
export function lastResponseUnderWay(socket: object): ServerResponse | undefined {
  return underWay.get(socket)?.at(-1);
}

/**
 * Ends this side of the connection after the answer but goes on reading what the client still
 * sends (Node's parser reads it as the body, dropped) before destroying the socket: destroying
 * it at once, with the client's bytes unread, resets the connection, and a client still busy
 * sending its body could lose the answer to that reset before reading it. A client that reads
 * the answer stops sending and closes; one that does not is closed when it pauses for
 * LINGER_IDLE_MS (the socket's timeout, which Node re-arms on every read) or after LINGER_MAX_MS.
 */
function lingeringClose(this: Socket): void {
  if (this.writable) this.end();
  this.setTimeout(LINGER_IDLE_MS);
  this.once('timeout', () => this.destroy());
  const timer = setTimeout(() => this.destroy(), LINGER_MAX_MS).unref();
  this.once('close', () => clearTimeout(timer));
}
