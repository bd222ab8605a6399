import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import type { ByteRange } from '../../cas/byte-range';
import { DomainError } from '../errors/domain-error';
import { MetricsService } from '../metrics/metrics.service';
import { planDownload, type DownloadMeta } from './download-plan';

export type DownloadKind = 'blob' | 'artifact' | 'attachment';

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/**
 * Answers a download: conditional and range requests decided by planDownload, bytes streamed
 * from the store with backpressure (the stream is piped to the socket; nothing is buffered
 * whole), the source destroyed when the client goes away.
 */
@Injectable()
export class DownloadResponder {
  private readonly downloads: Counter<'kind' | 'status'>;
  private readonly bytes: Counter<'kind'>;

  constructor(metrics: MetricsService) {
    this.downloads = new Counter({
      name: 'imgsrv_downloads_total',
      help: 'Download answers by kind (blob, artifact, attachment) and status (200, 206, 304, 416)',
      labelNames: ['kind', 'status'],
      registers: [metrics.registry],
    });
    this.bytes = new Counter({
      name: 'imgsrv_download_bytes_total',
      help: 'Bytes of completed download responses, by kind',
      labelNames: ['kind'],
      registers: [metrics.registry],
    });
  }

  async send(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: DownloadKind,
    meta: DownloadMeta,
    open: (range: ByteRange | undefined, signal: AbortSignal) => Promise<Readable>,
  ): Promise<FastifyReply> {
    const plan = planDownload(
      {
        method: request.method,
        range: header(request, 'range'),
        ifRange: header(request, 'if-range'),
        ifNoneMatch: header(request, 'if-none-match'),
        ifModifiedSince: header(request, 'if-modified-since'),
      },
      meta,
    );
    this.downloads.inc({ kind, status: String(plan.status) });
    if (plan.status === 416) {
      throw new DomainError(
        'RANGE_NOT_SATISFIABLE',
        `The object has ${meta.sizeBytes} bytes; one range within them can be served.`,
        {},
        plan.headers,
      );
    }
    void reply.code(plan.status).headers(plan.headers);
    if (!plan.body) return reply.send();

    const aborted = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) aborted.abort();
    });
    const stream = await open(plan.body.range, aborted.signal);
    const length = Number(plan.headers['content-length']);
    reply.raw.on('finish', () => this.bytes.inc({ kind }, length));
    return reply.send(stream);
  }
}
