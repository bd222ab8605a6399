import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RenderedDocument, RenderedStreams, StreamsService } from './streams.service';

/** Aliases move, so clients and proxies revalidate often; 304s make that cheap. */
const MAX_AGE = 60;

const DOCUMENTS: Readonly<Record<string, keyof Omit<RenderedStreams, 'revision'>>> = {
  '/streams/v1/index.json': 'index',
  '/streams/v1/images.json': 'images',
};

/** One streams document with its validators: 304 on a matching If-None-Match, gzip when asked. */
export function sendStreamsDocument(
  request: FastifyRequest,
  reply: FastifyReply,
  doc: RenderedDocument,
  publicRead: boolean,
): FastifyReply {
  const inm = request.headers['if-none-match'];
  void reply.headers({
    etag: doc.etag,
    'cache-control': `${publicRead ? 'public' : 'private'}, max-age=${MAX_AGE}`,
    vary: 'Accept-Encoding, Authorization',
  });
  if (
    typeof inm === 'string' &&
    inm.split(',').some((t) => t.trim().replace(/^W\//, '') === doc.etag || t.trim() === '*')
  ) {
    return reply.code(304).send();
  }
  const gzipOk = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  void reply.header('content-type', 'application/json');
  if (gzipOk) return reply.header('content-encoding', 'gzip').send(doc.gzipped);
  return reply.send(doc.body);
}

/**
 * Incus hosts poll the streams documents far more than anything else is requested. When public
 * reads are on, an anonymous GET or HEAD of either document is answered from the rendered bytes
 * in an onRequest hook, skipping the framework's guards, pipes and interceptors that have nothing
 * to do for it; the request-id, metrics and log hooks still run. Anything else (credentials
 * present, private mode, an error) goes through the controller as usual.
 */
export function installStreamsFastPath(fastify: FastifyInstance, streams: StreamsService): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (
      (request.method !== 'GET' && request.method !== 'HEAD') ||
      request.headers.authorization !== undefined
    ) {
      done();
      return;
    }
    const q = request.url.indexOf('?');
    const which = DOCUMENTS[q < 0 ? request.url : request.url.slice(0, q)];
    if (!which) {
      done();
      return;
    }
    streams.current().then(
      (docs) => void sendStreamsDocument(request, reply, docs[which], true),
      () => done(),
    );
  });
}
