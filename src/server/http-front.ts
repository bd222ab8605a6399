import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import {
  mayBecomeSimpleRequest,
  readSimpleRequestHead,
  type FrontAnswer,
  type FrontHandler,
  type SimpleRequestHead,
} from '../common/http/request-head';

/** How long the front waits for the rest of a request head that arrived in pieces. */
const PARTIAL_HEAD_WAIT_MS = 5_000;

export interface HttpFrontOptions {
  /** The exact paths the front may answer (no query string). */
  readonly paths: ReadonlySet<string>;
  readonly handler: FrontHandler;
  /** Idle connections the front holds are closed after this long, like Node's keep-alive. */
  readonly keepAliveTimeoutMs: number;
  /** Node's default limit on a request head. */
  readonly maxHeadBytes?: number;
  /** Told of each answer the front wrote and of each connection it handed to Node. */
  readonly count?: (outcome: 'answered' | 'handed_off') => void;
}

interface Connection {
  readonly socket: Socket;
  buffer?: Buffer;
  /** An answer is being prepared (the socket is paused meanwhile). */
  busy: boolean;
  /** End the connection once the current answer is written. */
  closing: boolean;
  /** Set while the buffer holds the beginning of a head: hands the connection over if it stalls. */
  partial?: NodeJS.Timeout;
  detach(): void;
}

/**
 * A front on an HTTP or HTTPS server for the few requests that are asked far more than any other
 * (Incus hosts polling the streams documents). Node's HTTP machinery costs more per request than
 * such an answer itself; the front reads each new connection's requests and, while they are
 * simple GET or HEAD requests of `paths` that arrive whole, answers them straight on the socket
 * (keep-alive, pipelining in order, backpressure). The first request it does not fully understand,
 * with every byte after it, goes to the server's own connection listener, which owns the
 * connection from then on, as if the front had never been there; no request is ever half-read.
 *
 * The server's idle/all connection closers also close the front's connections, so `close()` and
 * graceful shutdown behave as before.
 */
export function installHttpFront(server: Server, options: HttpFrontOptions): void {
  // An HTTPS server receives decrypted sockets on 'secureConnection'; plain HTTP on 'connection'.
  const event = server.listeners('secureConnection').length ? 'secureConnection' : 'connection';
  const [nodeListener, ...others] = server.listeners(event) as ((socket: Socket) => void)[];
  if (!nodeListener || others.length)
    throw new Error(`expected one ${event} listener on the server`);
  server.removeListener(event, nodeListener);

  const maxHeadBytes = options.maxHeadBytes ?? 16 * 1024;
  const keepAlive = `timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}`;
  const connections = new Set<Connection>();
  /** Stays on a socket the front ends itself, so a late EPIPE cannot go unhandled. */
  function onError(this: Socket) {
    this.destroy();
  }

  const count = options.count ?? (() => undefined);
  const handOff = (c: Connection) => {
    count('handed_off');
    c.detach();
    // Node's listener brings its own error handling.
    c.socket.removeListener('error', onError);
    const rest = c.buffer;
    c.buffer = undefined;
    c.socket.pause();
    if (rest?.length) c.socket.unshift(rest);
    nodeListener.call(server, c.socket);
    c.socket.resume();
  };

  const write = (c: Connection, head: SimpleRequestHead, answer: FrontAnswer) => {
    const close = head.request.close || c.closing || !server.listening;
    let text = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n`;
    for (const name in answer.headers) text += `${name}: ${answer.headers[name]}\r\n`;
    text += `Date: ${httpDate()}\r\nConnection: ${close ? 'close' : `keep-alive\r\nKeep-Alive: ${keepAlive}`}\r\n\r\n`;
    const { socket } = c;
    if (answer.body && head.request.method === 'GET') {
      // One writev for the head and the body.
      socket.cork();
      socket.write(text, 'latin1');
      socket.write(answer.body);
      socket.uncork();
    } else socket.write(text, 'latin1');
    count('answered');
    c.buffer = c.buffer!.length > head.length ? c.buffer!.subarray(head.length) : undefined;
    if (close) {
      c.detach();
      socket.end();
    }
    return !close;
  };

  /**
   * The client reads its answers slower than it asks: stop reading (and answering) until what
   * was written has gone to the kernel, then go on with what is buffered. Nothing is queued in
   * memory beyond the socket's high-water mark and one answer.
   */
  const awaitDrain = (c: Connection) => {
    c.busy = true;
    c.socket.pause();
    c.socket.once('drain', () => {
      c.busy = false;
      c.socket.resume();
      drain(c);
    });
  };

  /** Answers whole simple requests from the buffer, in order, until it is empty or one is not. */
  const drain = (c: Connection): void => {
    while (c.buffer) {
      if (c.socket.writableNeedDrain) return awaitDrain(c);
      const head = readSimpleRequestHead(c.buffer, options.paths, maxHeadBytes);
      if (!head) {
        // The rest of a request split across reads: wait for it, briefly; a client that
        // trickles a head goes to Node, whose header timeout deals with it.
        if (mayBecomeSimpleRequest(c.buffer, maxHeadBytes)) {
          c.partial ??= setTimeout(() => handOff(c), PARTIAL_HEAD_WAIT_MS);
          break;
        }
        return handOff(c);
      }
      if (c.partial) {
        clearTimeout(c.partial);
        c.partial = undefined;
      }
      let answer: ReturnType<FrontHandler>;
      try {
        answer = options.handler(head.request);
      } catch {
        return handOff(c);
      }
      if (answer === undefined) return handOff(c);
      if (answer instanceof Promise) {
        c.busy = true;
        c.socket.pause();
        answer.then(
          (a) => {
            c.busy = false;
            if (c.socket.destroyed) return;
            if (!a) return handOff(c);
            if (!write(c, head, a)) return;
            c.socket.resume();
            drain(c);
          },
          () => {
            c.busy = false;
            if (!c.socket.destroyed) handOff(c);
          },
        );
        return;
      }
      if (!write(c, head, answer)) return;
    }
    if (c.closing) {
      c.detach();
      c.socket.end();
    } else if (c.socket.writableNeedDrain) awaitDrain(c);
  };

  server.on(event, (socket: Socket) => {
    const c: Connection = {
      socket,
      busy: false,
      closing: false,
      detach() {
        connections.delete(c);
        clearTimeout(c.partial);
        socket.setTimeout(0);
        socket.removeListener('data', onData);
        socket.removeListener('timeout', onTimeout);
        socket.removeListener('end', onEnd);
      },
    };
    const onData = (chunk: Buffer) => {
      c.buffer = c.buffer ? Buffer.concat([c.buffer, chunk]) : chunk;
      if (!c.busy) drain(c);
    };
    const onTimeout = () => socket.destroy();
    // The client is done sending: finish the answer under way, then close our side too.
    const onEnd = () => {
      if (c.busy) c.closing = true;
      else {
        c.detach();
        socket.end();
      }
    };
    connections.add(c);
    socket.once('close', () => connections.delete(c));
    socket.setTimeout(options.keepAliveTimeoutMs);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('data', onData);
  });

  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const c of connections) {
      if (c.busy) c.closing = true;
      else c.socket.destroy();
    }
  };
  server.closeAllConnections = () => {
    closeAll();
    for (const c of connections) c.socket.destroy();
  };
}

let dateSecond = 0;
let dateText = '';

/** The Date header, formatted at most once a second (as Node does). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
