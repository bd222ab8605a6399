import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../common/errors/error-registry';
import {
  bareProblem,
  clientErrorResponse,
  PROBLEM_CONTENT_TYPE,
  rawProblemResponse,
} from '../common/errors/problem';
import { sendProblem } from '../common/errors/send-problem';
import { NestFactory } from '@nestjs/core';
import { Counter } from 'prom-client';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../app.module';
import { configureApp } from '../app.setup';
import type { AppConfig } from '../config/app-config';
import { requestIdOf } from '../common/http/request-id';
import { NestPinoLogger, type Logger } from '../common/logging/logger';
import { MetricsService } from '../common/metrics/metrics.service';
import { closeGracefully, listen, urlOf } from './listeners';
import { createMetricsServer } from './metrics-server';
import { loadTlsMaterial } from './tls';
import type { FrontHandler } from '../common/http/request-head';
import {
  STREAMS_DOCUMENT_PATHS,
  streamsFastPath,
  streamsFrontHandler,
  type FastPath,
} from '../streams/streams.http';
import { installHttpFront } from './http-front';
import { UnreadBodyResponse } from './unread-body';
import { StreamsService } from '../streams/streams.service';

/** JSON bodies are small; upload parts stream through their own parser with their own limit. */
export const JSON_BODY_LIMIT = 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Large uploads and downloads may take longer than Node's default 5-minute request timeout;
 * slow-loris protection stays with the header timeout, keep-alive idles out as usual. Responses
 * close or drain the connection when a route did not read the request body (UnreadBodyResponse).
 */
const SERVER_OPTIONS = {
  requestTimeout: 0,
  headersTimeout: 60_000,
  keepAliveTimeout: 65_000,
  requireHostHeader: false, // checked by the handler, which answers a problem
  ServerResponse: UnreadBodyResponse,
};

/** A problem written straight on Node's response, for requests that never reach Fastify. */
function answerBare(res: ServerResponse, code: ErrorCode, detail: string): void {
  const { status, body } = bareProblem(code, detail);
  res.writeHead(status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}

/**
 * What Node's parser lets through and the handler refuses: a request line without a version
 * (HTTP/0.9), an HTTP/1.1 request without Host (Node's own check answers a bare 400), and more
 * than one Host, which leaves the authority to whichever reader picks which.
 */
function refusedHead(req: IncomingMessage): string | undefined {
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
 * Requests Node answers itself unless told otherwise: an Expect other than 100-continue (417)
 * and CONNECT (Node would just close the connection), here both problems.
 */
function answerOutsideRoutes(server: Server): void {
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    answerBare(res, 'EXPECTATION_FAILED', 'Only Expect: 100-continue is supported.'),
  );
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    socket.end(
      rawProblemResponse('METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is not a proxy.'),
    );
  });
}

export interface Application {
  readonly app: NestFastifyApplication;
  /** The request handler of the one Fastify instance, for any number of listeners. */
  readonly handler: Handler;
  /** The plain HTTP server Fastify was built around (listening only if configured). */
  readonly httpServer: Server;
  /** With public reads on: answers anonymous reads of the streams documents ahead of Node's HTTP. */
  readonly streamsFront?: FrontHandler;
}

/**
 * Builds and initializes the Nest application on Fastify. One Fastify instance serves every
 * listener: its handler is captured from the server factory and given to each server.
 */
export async function createApplication(
  config: AppConfig,
  logger: Logger,
  options: { preview?: boolean } = {},
): Promise<Application> {
  let handler: Handler | undefined;
  let httpServer: Server | undefined;
  // Set once the application is ready: requests it answers never reach Fastify.
  let fastPath: FastPath | undefined;
  let fastify: Handler | undefined;
  let streamsFront: FrontHandler | undefined;
  const adapter = new FastifyAdapter({
    serverFactory: (h: Handler) => {
      fastify = h;
      handler = (req, res) => {
        const refused = refusedHead(req);
        if (refused !== undefined) return answerBare(res, 'BAD_REQUEST', refused);
        if (!fastPath?.(req, res)) h(req, res);
      };
      httpServer = createHttpServer(SERVER_OPTIONS, handler);
      return httpServer;
    },
    genReqId: requestIdOf,
    requestIdHeader: false,
    bodyLimit: JSON_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 512 },
    // A path Fastify cannot decode or route (bad percent-encoding, a parameter over 512
    // characters) is answered before any hook: as a problem, like every other error.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      void reply.header('x-request-id', request.id);
      sendProblem(error, request, reply, logger);
    },
    clientErrorHandler: answerClientError,
  } as ConstructorParameters<typeof FastifyAdapter>[0]);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, logger),
    adapter,
    {
      logger: new NestPinoLogger(logger),
      abortOnError: false,
      // Fastify's own JSON parser only (configureApp): Nest's would add a form-body parser.
      bodyParser: false,
      preview: options.preview ?? false,
    },
  );
  configureApp(app, logger);
  if (!options.preview) {
    await app.init();
    // Nest readies Fastify inside listen(); we serve through our own servers, so ready it here.
    await app.getHttpAdapter().getInstance().ready();
    if (config.auth.publicRead && fastify) {
      const streams = app.get(StreamsService, { strict: false });
      const metrics = app.get(MetricsService);
      fastPath = streamsFastPath(streams, metrics, logger, fastify);
      streamsFront = streamsFrontHandler(streams, metrics, logger);
    }
  }
  if (!handler || !httpServer) throw new Error('Fastify did not build its server');
  return { app, handler, httpServer, streamsFront };
}

export interface RunningServer {
  readonly application: Application;
  readonly urls: { readonly http?: string; readonly https?: string; readonly metrics?: string };
  readonly tlsCertFile?: string;
  /** Stops accepting, finishes in-flight requests (bounded), then closes the application. */
  close(): Promise<void>;
}

/**
 * Whether Node's HTTP server has a response on `socket` that has not finished: a request is under
 * way, rather than the connection idling between requests. Node keeps that response in the
 * socket's `_httpMessage` (and clears it when the response finishes); no public API tells.
 */
function responseUnderWay(socket: Socket): boolean {
  return (socket as Socket & { _httpMessage?: unknown })._httpMessage != null;
}

/**
 * A server's 'clientError' (Node's HTTP parser refused the bytes: a malformed request line,
 * header or body framing, headers too large, no head in time): a problem+json answer unless a
 * response has started, then the connection ends.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    ?.headersSent;
  if (socket.writable && !started) socket.write(clientErrorResponse(error));
  socket.destroy();
}

/** Starts the listeners this process's configuration asks for. */
export async function startServer(config: AppConfig, logger: Logger): Promise<RunningServer> {
  const application = await createApplication(config, logger);
  const metrics = application.app.get(MetricsService);
  // Counted in plain numbers per answer and given to prom-client when scraped: its label
  // handling would cost a noticeable share of an answer.
  const frontCounts = { answered: 0, handed_off: 0 };
  new Counter({
    name: 'imgsrv_http_front_total',
    help:
      'The connection front: streams documents it answered itself (answered) and connections ' +
      'it handed to the HTTP server at their first other request (handed_off)',
    labelNames: ['outcome'],
    registers: [metrics.registry],
    collect() {
      for (const outcome of ['answered', 'handed_off'] as const) {
        if (frontCounts[outcome] > 0) this.inc({ outcome }, frontCounts[outcome]);
        frontCounts[outcome] = 0;
      }
    },
  });
  // A request under way that moves no byte for the idle time has stalled: Node's socket timeout
  // (re-armed on every read and completed write) closes its connection. A sendfile download, which
  // Node cannot see move, fires the socket's 'timeout' itself (DownloadResponder). Between
  // requests Node's keep-alive timeout uses the same timer; those closes are ordinary and not
  // counted.
  const closeIdle = (server: Server) =>
    server.setTimeout(config.http.idleTimeoutMs, (socket: Socket) => {
      if (responseUnderWay(socket)) {
        metrics.countIdleTimeout();
        logger.info(
          { remoteAddress: socket.remoteAddress, idleTimeoutMs: config.http.idleTimeoutMs },
          'closed a connection whose request moved no bytes for the idle timeout',
        );
      }
      socket.destroy();
    });
  // What every API listener gets: the idle timeout, problems for what Node answers itself, and
  // the connection front.
  const prepare = (server: Server) => {
    closeIdle(server);
    answerOutsideRoutes(server);
    if (application.streamsFront)
      installHttpFront(server, {
        paths: STREAMS_DOCUMENT_PATHS,
        handler: application.streamsFront,
        keepAliveTimeoutMs: SERVER_OPTIONS.keepAliveTimeout,
        count: (outcome) => frontCounts[outcome]++,
      });
  };
  const servers: Server[] = [];
  const urls: { http?: string; https?: string; metrics?: string } = {};
  let tlsCertFile: string | undefined;

  try {
    if (config.roles.api && config.http.listen) {
      prepare(application.httpServer);
      urls.http = urlOf('http', await listen(application.httpServer, config.http.listen));
      servers.push(application.httpServer);
    }
    if (config.roles.api && config.http.tlsListen) {
      const tls = await loadTlsMaterial(config);
      tlsCertFile = tls.certFile;
      if (tls.generated)
        logger.info({ certFile: tls.certFile }, 'generated a self-signed TLS certificate');
      const httpsServer = createHttpsServer(
        { ...SERVER_OPTIONS, cert: tls.cert, key: tls.key },
        application.handler,
      ) as unknown as Server;
      prepare(httpsServer);
      // Fastify handles the plain server's (clientErrorHandler); this one is ours alone.
      httpsServer.on('clientError', answerClientError);
      urls.https = urlOf('https', await listen(httpsServer, config.http.tlsListen));
      servers.push(httpsServer);
    }
    if (config.metrics.listen) {
      const metricsServer = createMetricsServer(metrics.registry);
      urls.metrics = `${urlOf('http', await listen(metricsServer, config.metrics.listen))}/metrics`;
      servers.push(metricsServer);
    }
  } catch (error) {
    await closeGracefully(servers, 0);
    await application.app.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    application,
    urls,
    tlsCertFile,
    close: () =>
      (closing ??= (async () => {
        await closeGracefully(servers, config.shutdownTimeoutMs);
        // Workers finish their running step; shutdown is bounded all the same, so a dependency
        // that stopped answering (a queue client stuck after a Redis reconnect) cannot hold it.
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs);
        });
        const closed = await Promise.race([
          application.app.close().then(() => 'closed' as const),
          deadline,
        ]);
        clearTimeout(timer);
        if (closed === 'timeout')
          logger.warn('the application did not close in time; giving up on it');
      })()),
  };
}
