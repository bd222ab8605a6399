import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import {
  clientErrorResponse,
  rawProblemResponse,
  writeBareProblem,
} from '../common/errors/problem';
import type { FastPaths, RequestHandler } from '../common/http/fast-paths';
import { lastResponseUnderWay, responseUnderWay, UnreadBodyResponse } from './unread-body';

/**
 * Large uploads and downloads may take longer than Node's default 5-minute request timeout;
 * slow-loris protection stays with the header timeout, keep-alive idles out as usual. Responses
 * close or drain the connection when a route did not read the request body (UnreadBodyResponse).
 */
export const SERVER_OPTIONS = {
  requestTimeout: 0,
  headersTimeout: 60_000,
  keepAliveTimeout: 65_000,
  requireHostHeader: false, // checked by the entry, which answers a problem
  // A subclass with a field of its own, which Node's generic typing of the option does not admit.
  ServerResponse: UnreadBodyResponse as unknown as typeof ServerResponse,
};

/**
 * What Node's parser lets through and the server refuses: a request line without a version
 * (HTTP/0.9), an HTTP/1.1 request without Host (Node's own check answers a bare 400), and more
 * than one Host, which leaves the authority to whichever reader picks which.
 */
export function refusedHead(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1)
    return 'The request line needs a version: HTTP/1.1 (or HTTP/1.0).';
  if (req.headers.host === undefined)
    return req.httpVersionMinor === 1 ? 'An HTTP/1.1 request needs a Host header.' : undefined;
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i].length === 4 && raw[i].toLowerCase() === 'host' && ++hosts > 1)
      return 'A request has exactly one Host header.';
  return undefined;
}

/**
 * The one way into the application for every request on every listener. Node's own HTTP parser
 * reads each request; the entry refuses heads the server does not accept (a bare problem), lets
 * the registered fast paths take what they answer, and gives everything else to the web
 * framework. The framework's handler exists only once Fastify builds its server (`attach`), and
 * fast paths only once the application is initialized (`open`); until then requests go straight
 * to the framework.
 */
export class RequestEntry {
  private framework?: RequestHandler;
  private fastPaths?: FastPaths;
  private httpServer?: Server;

  /** Fastify's server factory: the plain HTTP server around the framework's handler. */
  attach(framework: RequestHandler): Server {
    this.framework = framework;
    this.httpServer = createHttpServer(SERVER_OPTIONS, this.handle);
    return this.httpServer;
  }

  /** The plain HTTP server the framework was built around. */
  get server(): Server {
    if (!this.httpServer) throw new Error('the web framework has not built its server yet');
    return this.httpServer;
  }

  /** Lets fast paths answer from now on (the application is ready). */
  open(fastPaths: FastPaths): void {
    this.fastPaths = fastPaths;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const refused = refusedHead(req);
    if (refused !== undefined) return writeBareProblem(res, 'BAD_REQUEST', refused);
    const framework = this.framework;
    if (!framework) throw new Error('the web framework has not built its server yet');
    if (!this.fastPaths?.answer(req, res, framework)) framework(req, res);
  };
}

/**
 * Requests Node answers itself unless told otherwise: an Expect other than 100-continue (417)
 * and CONNECT (Node would just close the connection), here both problems.
 */
export function answerOutsideRoutes(server: Server): void {
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    writeBareProblem(res, 'EXPECTATION_FAILED', 'Only Expect: 100-continue is supported.'),
  );
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    socket.end(
      rawProblemResponse('METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is not a proxy.'),
    );
  });
}

/**
 * A server's 'clientError' (Node's HTTP parser refused the bytes: a malformed request line,
 * header or body framing, headers too large, no head in time). Requests before the bad one that
 * arrived whole still get their answers, in order; then a problem+json answer, and the
 * connection ends. When the bad bytes are the body of the request being answered, its answer is
 * cut short instead (as Node does), unless nothing of it has been sent, when the problem goes out.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const last = lastResponseUnderWay(socket);
  if (last?.req.complete) {
    last.once('close', () => {
      if (socket.writable) socket.end(clientErrorResponse(error), () => socket.destroy());
      else socket.destroy();
    });
    return;
  }
  const started = responseUnderWay(socket)?.headersSent ?? false;
  if (socket.writable && !started) socket.end(clientErrorResponse(error), () => socket.destroy());
  else socket.destroy();
}
