import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../app.module';
import { configureApp } from '../app.setup';
import { sendProblem } from '../common/errors/send-problem';
import { FastPaths, type RequestHandler } from '../common/http/fast-paths';
import { requestIdOf } from '../common/http/request-id';
import { NestPinoLogger, type Logger } from '../common/logging/logger';
import { MetricsService } from '../common/metrics/metrics.service';
import type { AppConfig } from '../config/app-config';
import { closeGracefully, listen, urlOf } from './listeners';
import { createMetricsServer } from './metrics-server';
import {
  answerClientError,
  answerOutsideRoutes,
  RequestEntry,
  SERVER_OPTIONS,
} from './request-entry';
import { loadTlsMaterial } from './tls';
import { responseUnderWay } from './unread-body';

/** JSON bodies are small; upload parts stream through their own parser with their own limit. */
export const JSON_BODY_LIMIT = 1024 * 1024;

export interface Application {
  readonly app: NestFastifyApplication;
  /** The request handler of every listener: the request entry in front of the one Fastify. */
  readonly handler: RequestHandler;
  /** The plain HTTP server Fastify was built around (listening only if configured). */
  readonly httpServer: Server;
}

/**
 * Builds and initializes the Nest application on Fastify. One Fastify instance serves every
 * listener, behind one request entry (src/server/request-entry.ts): Fastify hands its handler to
 * the entry through the server factory, and the features' fast paths join once the application
 * is initialized.
 */
export async function createApplication(
  config: AppConfig,
  logger: Logger,
  options: { preview?: boolean } = {},
): Promise<Application> {
  const entry = new RequestEntry();
  const adapter = new FastifyAdapter({
    serverFactory: (framework: RequestHandler) => entry.attach(framework),
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
    entry.open(app.get(FastPaths, { strict: false }));
  }
  return { app, handler: entry.handle, httpServer: entry.server };
}

export interface RunningServer {
  readonly application: Application;
  readonly urls: { readonly http?: string; readonly https?: string; readonly metrics?: string };
  readonly tlsCertFile?: string;
  /** Stops accepting, finishes in-flight requests (bounded), then closes the application. */
  close(): Promise<void>;
}

/** Starts the listeners this process's configuration asks for. */
export async function startServer(config: AppConfig, logger: Logger): Promise<RunningServer> {
  const application = await createApplication(config, logger);
  const metrics = application.app.get(MetricsService);
  // A request under way that moves no byte for the idle time has stalled: Node's socket timeout
  // (re-armed on every read and completed write) closes its connection. A sendfile download, which
  // Node cannot see move, fires the socket's 'timeout' itself (DownloadResponder). Between
  // requests Node's keep-alive timeout uses the same timer; those closes are ordinary and not
  // counted.
  const closeIdle = (server: Server) =>
    server.setTimeout(config.http.idleTimeoutMs, (socket: Socket) => {
      if (responseUnderWay(socket) !== undefined) {
        metrics.countIdleTimeout();
        logger.info(
          { remoteAddress: socket.remoteAddress, idleTimeoutMs: config.http.idleTimeoutMs },
          'closed a connection whose request moved no bytes for the idle timeout',
        );
      }
      socket.destroy();
    });
  // What every API listener gets: the idle timeout and problems for what Node answers itself.
  const prepare = (server: Server) => {
    closeIdle(server);
    answerOutsideRoutes(server);
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
