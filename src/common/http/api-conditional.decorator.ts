import { applyDecorators, type Type } from '@nestjs/common';
import { ApiExtension, ApiHeader, ApiResponse } from '@nestjs/swagger';

/**
 * Marks a GET route that Fastify also answers to HEAD (its automatic HEAD route): the OpenAPI
 * document gets a `head` operation beside its `get` (see buildOpenApiDocument).
 */
export const HEAD_EXTENSION = 'x-imgsrv-head';

const header = (description: string, schema: Record<string, unknown> = { type: 'string' }) => ({
  description,
  schema,
});

const ENTITY_HEADERS = {
  ETag: header('Strong entity tag: `"sha256:<hex>"` of the bytes'),
  'Last-Modified': header('HTTP date of the object (one-second precision)'),
  'Accept-Ranges': header('`bytes`'),
  'Cache-Control': header(
    '`public, max-age=31536000, immutable` for published content, `private, no-cache` otherwise',
  ),
};

/**
 * Documents a download route (answered by DownloadResponder): one byte range, conditional
 * requests, 206 and 304, and HEAD with the headers a GET would send.
 */
export const ApiDownload = () =>
  applyDecorators(
    ApiExtension(HEAD_EXTENSION, true),
    ApiHeader({
      name: 'Range',
      required: false,
      description:
        'One range: `bytes=first-last`, `bytes=first-` or `bytes=-suffix`. Several ranges answer ' +
        '416; a header that does not parse (another unit included) is ignored',
    }),
    ApiHeader({
      name: 'If-Range',
      required: false,
      description: 'The ETag or Last-Modified date the range is for; otherwise the whole object',
    }),
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: 'ETags (or `*`) the client holds: 304 when one matches',
    }),
    ApiHeader({
      name: 'If-Modified-Since',
      required: false,
      description: '304 when not modified since (ignored when If-None-Match is given)',
    }),
    ApiResponse({
      status: 200,
      description: 'The bytes',
      headers: {
        ...ENTITY_HEADERS,
        'Content-Length': header('Size of the object in bytes', { type: 'integer' }),
        'Content-Disposition': header('`attachment; filename="…"`'),
      },
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    }),
    ApiResponse({
      status: 206,
      description: 'The requested range',
      headers: {
        ...ENTITY_HEADERS,
        'Content-Range': header('`bytes first-last/size`'),
        'Content-Length': header('Size of the range in bytes', { type: 'integer' }),
      },
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    }),
    ApiResponse({
      status: 304,
      description: 'Not modified: the client’s copy is current (no body)',
      headers: ENTITY_HEADERS,
    }),
  );

/** Documents a Simple Streams document route (streams.http.ts): ETag, 304, gzip and HEAD. */
export const ApiStreamsDocument = (description: string) =>
  applyDecorators(
    ApiExtension(HEAD_EXTENSION, true),
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: 'ETags the client holds: 304 when one is the current revision’s',
    }),
    ApiHeader({
      name: 'Accept-Encoding',
      required: false,
      description: 'With `gzip`, the document is sent gzip-compressed (the same ETag)',
    }),
    ApiResponse({
      status: 200,
      description,
      headers: {
        ETag: header('Strong entity tag of this streams revision’s document'),
        'Cache-Control': header(
          '`public, max-age=…` (`private` when IMGSRV_PUBLIC_READ=false): short, as the document ' +
            'changes with every publish and alias move',
        ),
        'Content-Encoding': header('`gzip` when asked for'),
        Vary: header('`Accept-Encoding, Authorization`'),
      },
      content: {
        'application/json': { schema: { type: 'object', additionalProperties: true } },
      },
    }),
    ApiResponse({
      status: 304,
      description: 'Not modified: the client’s copy is the current revision’s (no body)',
      headers: {
        ETag: header('Strong entity tag of this streams revision’s document'),
        'Cache-Control': header('As on 200'),
      },
    }),
  );

/**
 * Documents a JSON read with a strong ETag over its bytes: If-None-Match answers 304, and the
 * 200 carries the tag beside the body of `type`.
 */
export const ApiEntityTag = (type: Type<unknown>, description: string, cacheControl: string) =>
  applyDecorators(
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: 'ETags (or `*`) the client holds: 304 when one is the current answer’s',
    }),
    ApiResponse({
      status: 200,
      type,
      description,
      headers: {
        ETag: header('Strong entity tag of these bytes: equal in every API process'),
        'Cache-Control': header(cacheControl),
        Vary: header('`Authorization`'),
      },
    }),
    ApiResponse({
      status: 304,
      description: 'Not modified: the client’s copy is current (no body)',
      headers: {
        ETag: header('Strong entity tag of the current answer'),
        'Cache-Control': header('As on 200'),
      },
    }),
  );
