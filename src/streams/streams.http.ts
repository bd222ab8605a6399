import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestIdFrom } from '../common/http/request-id';
import type { FrontHandler } from '../common/http/request-head';
import type { Logger } from '../common/logging/logger';
import type { MetricsService } from '../common/metrics/metrics.service';
import type { RenderedDocument, RenderedStreams, StreamsService } from './streams.service';

/** Aliases move, so clients and proxies revalidate often; 304s make that cheap. */
const MAX_AGE = 60;
const PUBLIC_CACHE_CONTROL = `public, max-age=${MAX_AGE}`;
const PRIVATE_CACHE_CONTROL = `private, max-age=${MAX_AGE}`;

const DOCUMENTS: Readonly<Record<string, keyof Omit<RenderedStreams, 'revision'>>> = {
  '/streams/v1/index.json': 'index',
  '/streams/v1/images.json': 'images',
};

interface StreamsAnswer {
  readonly status: 200 | 304;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

/** What to answer for one streams document: 304 on a matching If-None-Match, gzip when asked. */
function answer(
  headers: IncomingHttpHeaders,
  doc: RenderedDocument,
  publicRead: boolean,
): StreamsAnswer {
  const common = {
    etag: doc.etag,
    'cache-control': publicRead ? PUBLIC_CACHE_CONTROL : PRIVATE_CACHE_CONTROL,
    vary: 'Accept-Encoding, Authorization',
  };
  if (matches(headers['if-none-match'], doc.etag)) return { status: 304, headers: common };
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

/** If-None-Match (weak comparison, lists, "*") against the document's strong ETag. */
function matches(inm: string | string[] | undefined, etag: string): boolean {
  if (typeof inm !== 'string') return false;
  if (inm === etag) return true; // what a client that revalidates sends: checked first
  return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*');
}

/** The controller's way: one streams document through Fastify's reply. */
export function sendStreamsDocument(
  request: FastifyRequest,
  reply: FastifyReply,
  doc: RenderedDocument,
  publicRead: boolean,
): FastifyReply {
  const a = answer(request.headers, doc, publicRead);
  void reply.code(a.status).headers(a.headers);
  return a.body ? reply.send(a.body) : reply.send();
}

/** Answers a request itself (true) or leaves it to the application (false). */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The paths of the two documents, for a front that answers them before Node's HTTP server. */
export const STREAMS_DOCUMENT_PATHS: ReadonlySet<string> = new Set(Object.keys(DOCUMENTS));

interface AnonymousRead {
  readonly method: string;
  readonly route: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly startedMs: number;
}

/**
 * The full answer to an anonymous read of one document (request id and Content-Length included,
 * the same headers the controller sends), counted and logged like any request.
 */
function anonymousAnswer(
  docs: RenderedStreams,
  read: AnonymousRead,
  metrics: MetricsService,
  logger: Logger,
): StreamsAnswer {
  const a = answer(read.headers, docs[DOCUMENTS[read.route]], true);
  const reqId = requestIdFrom(read.headers['x-request-id']);
  const headers = {
    'x-request-id': reqId,
    ...a.headers,
    ...(a.body ? { 'content-length': String(a.body.length) } : {}),
  };
  const seconds = (performance.now() - read.startedMs) / 1000;
  metrics.observeRequest(read.method, read.route, a.status, seconds);
  logger.info(
    {
      reqId,
      method: read.method,
      route: read.route,
      url: read.url,
      status: a.status,
      ms: Math.round(seconds * 1e4) / 10,
    },
    'request',
  );
  return { ...a, headers };
}

/**
 * Incus hosts poll the streams documents far more than anything else is asked for. When public
 * reads are on, an anonymous GET or HEAD of either document is answered here, before the web
 * framework, from the rendered bytes: same headers as the controller, a request id, the request
 * metric and log line. Anything else (credentials, another path, an error reading the revision)
 * goes to `fallback`, the application, which answers as usual.
 */
export function streamsFastPath(
  streams: StreamsService,
  metrics: MetricsService,
  logger: Logger,
  fallback: (req: IncomingMessage, res: ServerResponse) => void,
): FastPath {
  return (req, res) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.headers.authorization !== undefined)
      return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const route = q < 0 ? url : url.slice(0, q);
    if (!STREAMS_DOCUMENT_PATHS.has(route)) return false;
    const read = {
      method: req.method,
      route,
      url,
      headers: req.headers,
      startedMs: performance.now(),
    };
    streams.current().then(
      (docs) => {
        const a = anonymousAnswer(docs, read, metrics, logger);
        res.writeHead(a.status, a.headers);
        res.end(a.body);
      },
      () => fallback(req, res),
    );
    return true;
  };
}

/**
 * The same answers for the connection front (src/server/http-front.ts), which hands it only
 * simple anonymous GET/HEAD requests of STREAMS_DOCUMENT_PATHS. Answers synchronously while the
 * cached revision is trusted; a failure to read the revision leaves the request to the
 * application.
 */
export function streamsFrontHandler(
  streams: StreamsService,
  metrics: MetricsService,
  logger: Logger,
): FrontHandler {
  return (request) => {
    const read = {
      method: request.method,
      route: request.path,
      url: request.path,
      headers: request.headers,
      startedMs: performance.now(),
    };
    const docs = streams.currentIfTrusted();
    if (docs) return anonymousAnswer(docs, read, metrics, logger);
    return streams.current().then((d) => anonymousAnswer(d, read, metrics, logger));
  };
}
