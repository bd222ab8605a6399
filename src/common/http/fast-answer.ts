import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from '../logging/logger';
import type { MetricsService } from '../metrics/metrics.service';
import { requestIdFrom } from './request-id';

/** A whole answer held in memory: what a controller and a fast path both send for one read. */
export interface HeldAnswer {
  readonly status: 200 | 304;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

/** If-None-Match (weak comparison, lists, "*") against a strong ETag. */
export function ifNoneMatchHolds(inm: string | string[] | undefined, etag: string): boolean {
  if (typeof inm !== 'string') return false;
  if (inm === etag) return true; // what a client that revalidates sends: checked first
  return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*');
}

/** The controller's way: the answer through Fastify's reply. */
export function replyWith(reply: FastifyReply, a: HeldAnswer): FastifyReply {
  void reply.code(a.status).headers(a.headers);
  return a.body ? reply.send(a.body) : reply.send();
}

/**
 * A fast path's way: the answer on Node's response, with what the framework's hooks would add
 * (a request id, Content-Length, the request metric and log line under the route's pattern).
 */
export function writeHeldAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  a: HeldAnswer,
  route: string,
  startedMs: number,
  metrics: MetricsService,
  logger: Logger,
): void {
  const reqId = requestIdFrom(req.headers['x-request-id']);
  const headers: Record<string, string> = { 'x-request-id': reqId, ...a.headers };
  if (a.body) headers['content-length'] = String(a.body.length);
  res.writeHead(a.status, headers);
  res.end(req.method === 'GET' ? a.body : undefined);
  const seconds = (performance.now() - startedMs) / 1000;
  metrics.observeRequest(req.method as string, route, a.status, seconds);
  // Checked first: at the usual levels the line is not written, and not building it is part of
  // what makes this path fast.
  if (logger.isLevelEnabled('info'))
    logger.info(
      {
        reqId,
        method: req.method,
        route,
        url: req.url,
        status: a.status,
        ms: Math.round(seconds * 1e4) / 10,
      },
      'request',
    );
}
