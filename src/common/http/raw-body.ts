import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../errors/domain-error';

/** The first value of a request header. */
export function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The request body as the raw byte stream, for routes that take bytes (an upload part, a whole
 * blob). The catch-all content-type parser hands the stream through untouched; without a
 * Content-Type Fastify leaves it unread on request.raw. JSON and text/plain have parsers of their
 * own, which have read (and changed) the bytes by then: that is a 415.
 */
export function rawBody(request: FastifyRequest, what: string): Readable {
  const streamed = request.body && typeof (request.body as Readable).pipe === 'function';
  if (request.body !== undefined && !streamed)
    throw new DomainError(
      'UNSUPPORTED_MEDIA_TYPE',
      `${what} is raw bytes: send it as Content-Type: application/octet-stream, not ${header(request, 'content-type')}.`,
    );
  return (streamed ? request.body : request.raw) as Readable;
}

/** The Content-Length header as a number, or null without one. */
export function contentLength(request: FastifyRequest): number | null {
  const length = header(request, 'content-length');
  return length === undefined ? null : Number(length);
}
