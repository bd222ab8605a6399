import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ifNoneMatchHolds,
  replyWith,
  writeHeldAnswer,
  type HeldAnswer,
} from '../common/http/fast-answer';
import { FastPaths, type RequestHandler } from '../common/http/fast-paths';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { MetricsService } from '../common/metrics/metrics.service';
import { StreamsMetrics } from './streams.metrics';
import { StreamsService, type RenderedDocument, type RenderedStreams } from './streams.service';

/** Aliases move, so clients and proxies revalidate often; 304s make that cheap. */
const MAX_AGE = 60;
const PUBLIC_CACHE_CONTROL = `public, max-age=${MAX_AGE}`;
const PRIVATE_CACHE_CONTROL = `private, max-age=${MAX_AGE}`;

const DOCUMENTS: Readonly<Record<string, keyof Omit<RenderedStreams, 'revision'>>> = {
  '/streams/v1/index.json': 'index',
  '/streams/v1/images.json': 'images',
};

/**
 * What to answer for one streams document: 304 on a matching If-None-Match, gzip when asked. The
 * controller and the fast path both answer through this, so a document has one answer.
 */
function answer(
  headers: IncomingHttpHeaders,
  doc: RenderedDocument,
  publicRead: boolean,
): HeldAnswer {
  const common = {
    etag: doc.etag,
    'cache-control': publicRead ? PUBLIC_CACHE_CONTROL : PRIVATE_CACHE_CONTROL,
    vary: 'Accept-Encoding, Authorization',
  };
  if (ifNoneMatchHolds(headers['if-none-match'], doc.etag)) return { status: 304, headers: common };
  const gzip = /\bgzip\b/.test(String(headers['accept-encoding'] ?? ''));
  return {
    status: 200,
    headers: {
      ...common,
      'content-type': 'application/json',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    },
    body: gzip ? doc.gzipped : doc.body,
  };
}

/** The controller's way: one streams document through Fastify's reply. */
export function sendStreamsDocument(
  request: FastifyRequest,
  reply: FastifyReply,
  doc: RenderedDocument,
  publicRead: boolean,
): FastifyReply {
  return replyWith(reply, answer(request.headers, doc, publicRead));
}

/**
 * Incus hosts poll the streams documents far more than anything else is asked for. When public
 * reads are on, an anonymous GET or HEAD of either document is answered here, after Node's HTTP
 * parser but before the web framework, from the rendered bytes: the controller's headers and
 * status (`answer`), plus what the framework's hooks would add (a request id, Content-Length, the
 * request metric and log line). Anything else (credentials, another method or path) is left to
 * the application; a failure to read the current revision hands the request to it too, and the
 * controller answers or reports the problem as usual.
 */
@Injectable()
export class StreamsFastPath implements OnModuleInit {
  constructor(
    private readonly streams: StreamsService,
    private readonly fastPaths: FastPaths,
    private readonly metrics: MetricsService,
    private readonly streamsMetrics: StreamsMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    if (this.config.auth.publicRead)
      this.fastPaths.register((req, res, next) => this.take(req, res, next));
  }

  private take(req: IncomingMessage, res: ServerResponse, next: RequestHandler): boolean {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.headers.authorization !== undefined)
      return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const route = q < 0 ? url : url.slice(0, q);
    const document = DOCUMENTS[route];
    if (document === undefined) return false;
    const startedMs = performance.now();
    const docs = this.streams.currentIfTrusted();
    if (docs) this.send(req, res, route, docs[document], startedMs);
    else
      this.streams.current().then(
        (current) => this.send(req, res, route, current[document], startedMs),
        () => next(req, res),
      );
    return true;
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    route: string,
    doc: RenderedDocument,
    startedMs: number,
  ): void {
    const a = answer(req.headers, doc, true);
    writeHeldAnswer(req, res, a, route, startedMs, this.metrics, this.logger);
    this.streamsMetrics.countFastPathAnswer();
  }
}
