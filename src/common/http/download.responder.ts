import type { FileHandle } from 'node:fs/promises';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { finished, type Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ByteRange } from './byte-range';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { DomainError } from '../errors/domain-error';
import type { Logger } from '../logging/logger';
import { LOGGER } from '../logging/logging.module';
import { DownloadMetrics } from './download.metrics';
import { planDownload, type DownloadMeta } from './download-plan';
import { flushed, plainSocketFd, sendFile, SendfileError, sendfileUnavailable } from './sendfile';

export type DownloadKind = 'blob' | 'artifact' | 'attachment';

/** Where a download's bytes come from. */
export interface DownloadSource {
  /** The bytes, whole or one range; `signal` aborts when the client goes away. */
  stream(range: ByteRange | undefined, signal: AbortSignal): Promise<Readable>;
  /** The object as an open file to send with sendfile(2); null when the store has no files. */
  file(): Promise<FileHandle | null>;
}

/** Failures that only say the client went away. */
const CLIENT_GONE = new Set(['EPIPE', 'ECONNRESET', 'ENOTCONN', 'ETIMEDOUT', 'ECONNABORTED']);

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/**
 * Answers a download: conditional and range requests decided by planDownload. On plain HTTP from
 * the fs store the kernel sends the body straight from the file (sendfile(2), native/sendfile);
 * otherwise (TLS, S3, no addon) the bytes are streamed from the store with backpressure (piped
 * to the socket; nothing is buffered whole). Either way the source is let go when the client
 * goes away.
 */
@Injectable()
export class DownloadResponder {
  private readonly sendfile: boolean;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly metrics: DownloadMetrics,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const unavailable = config.http.sendfile ? sendfileUnavailable() : null;
    this.sendfile = config.http.sendfile && unavailable === null;
    this.idleTimeoutMs = config.http.idleTimeoutMs;
    if (unavailable !== null) {
      logger.warn({ reason: unavailable }, 'downloads copy their bytes through user space');
    }
  }

  async send(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: DownloadKind,
    meta: DownloadMeta,
    source: DownloadSource,
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
    this.metrics.downloads.inc({ kind, status: String(plan.status) });
    if (plan.status === 416) {
      throw new DomainError(
        'RANGE_NOT_SATISFIABLE',
        `The object has ${meta.sizeBytes} bytes; one range within them can be served.`,
        {},
        plan.headers,
      );
    }
    void reply.code(plan.status).headers(plan.headers);
    if (!plan.body) {
      // Fastify's HEAD route writes Content-Length: 0 for an empty reply; a HEAD of a download
      // must say how many bytes the GET would send, so its head is written here.
      if (request.method === 'HEAD' && plan.headers['content-length'] !== undefined) {
        reply.hijack();
        reply.raw.writeHead(plan.status, reply.getHeaders() as OutgoingHttpHeaders);
        reply.raw.end();
        return reply;
      }
      return reply.send();
    }

    const length = Number(plan.headers['content-length']);
    reply.raw.on('finish', () => this.metrics.bytes.inc({ kind }, length));
    // A response closed before the last byte lets the body's source go (either path). Fastify
    // logs a request when its response finishes; one cut short is logged here, and blamed on
    // the store when the store failed first (the response is then destroyed), else the client.
    const gone = new AbortController();
    let storeError: unknown;
    reply.raw.on('close', () => {
      if (reply.raw.writableFinished) return;
      gone.abort();
      const entry = { reqId: request.id, method: request.method, url: request.url, kind };
      if (storeError !== undefined) {
        this.metrics.storeFailures.inc({ kind });
        this.logger.warn(
          { ...entry, bytes: length, err: storeError },
          'download cut: the blob store failed',
        );
        return;
      }
      this.metrics.aborted.inc({ kind });
      this.logger.info({ ...entry, bytes: length }, 'download aborted by the client');
    });
    const storeFailed = (error: unknown) => {
      if (!gone.signal.aborted && storeError === undefined) storeError = error;
    };
    const file = await this.fileToSend(request, source);
    if (file) {
      // Node gives a pipelined request's response the socket only once the one before is done.
      const socket = reply.raw.socket ?? (await assignedSocket(reply.raw));
      if (socket) {
        return this.sendFileBody(
          request,
          reply,
          kind,
          socket,
          file,
          plan.body.range?.start ?? 0,
          length,
          gone.signal,
          storeFailed,
        );
      }
      await file.close();
    }

    const stream = await source.stream(plan.body.range, gone.signal);
    // Ahead of Fastify's own watch, which destroys the response when the stream fails: a stream
    // that fails or ends short while the response is still open is the store's doing.
    finished(stream, (error) => {
      if (error && !reply.raw.destroyed) storeFailed(error);
    });
    return reply.send(stream);
  }

  /** The file to send with sendfile(2), when this process, the connection and the store allow. */
  private async fileToSend(
    request: FastifyRequest,
    source: DownloadSource,
  ): Promise<FileHandle | null> {
    if (!this.sendfile || request.raw.httpVersionMajor !== 1) return null;
    if (plainSocketFd(request.raw.socket) === null) return null;
    return source.file();
  }

  /**
   * Fastify's headers (those of hooks included) go out through Node; once they have left Node, the
   * kernel sends the body from the file. Fastify hands the response over (hijack), but its
   * onResponse hooks (request log, metrics) still run when the response finishes. From the hijack
   * on nothing may throw: a failure ends the connection, as a failed stream does. Node sees no
   * activity on the socket while the kernel sends, so its idle timeout (IMGSRV_HTTP_IDLE_TIMEOUT)
   * is off for the transfer, and the transfer watches the kernel's progress against it instead.
   */
  private async sendFileBody(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: DownloadKind,
    socket: Socket,
    file: FileHandle,
    offset: number,
    length: number,
    gone: AbortSignal,
    storeFailed: (error: unknown) => void,
  ): Promise<FastifyReply> {
    const res = reply.raw;
    const headers = reply.getHeaders() as OutgoingHttpHeaders;
    reply.hijack();
    this.metrics.sendfiles.inc({ kind });
    try {
      res.writeHead(reply.statusCode, headers);
      res.flushHeaders();
      await flushed(socket);
      socket.setTimeout(0);
      await sendFile(socket, file, offset, length, { signal: gone, idleMs: this.idleTimeoutMs });
      socket.setTimeout(this.idleTimeoutMs);
      res.end();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (error instanceof SendfileError && code === 'ETIMEDOUT') {
        // What Node's own socket timer would have done, had it seen the transfer stall: the
        // listener's idle-timeout handler counts, logs and closes.
        socket.emit('timeout');
      } else if (error instanceof SendfileError && !CLIENT_GONE.has(code)) {
        // The file side failed (EIO, ERR_SHORT_FILE): counted and logged when the response closes.
        storeFailed(error);
      } else if (!gone.aborted && !CLIENT_GONE.has(code)) {
        this.logger.error({ err: error, reqId: request.id, kind }, 'download body failed');
      }
      res.destroy();
    } finally {
      await file.close().catch(() => undefined);
    }
    return reply;
  }
}

/**
 * The socket Node assigns to a pipelined request's response once the responses before it are
 * done ('socket'), or null if the response closes first (the client went away).
 */
function assignedSocket(res: ServerResponse): Promise<Socket | null> {
  return new Promise((resolve) => {
    const onSocket = (socket: Socket) => {
      res.off('close', onClose);
      resolve(socket);
    };
    const onClose = () => {
      res.off('socket', onSocket);
      resolve(null);
    };
    res.once('socket', onSocket);
    res.once('close', onClose);
  });
}
