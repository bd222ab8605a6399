import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { MetricsService } from '../common/metrics/metrics.service';
import type { StreamsItemInput } from './streams-item.entity';
import { projectStreams } from './streams.projector';
import { StreamsRepository } from './streams.repository';

const gzipAsync = promisify(gzip);

export interface RenderedDocument {
  readonly body: Buffer;
  readonly gzipped: Buffer;
  /** Strong validator: the hash of the bytes, so every API process agrees for one revision. */
  readonly etag: string;
}

export interface RenderedStreams {
  readonly revision: number;
  readonly index: RenderedDocument;
  readonly images: RenderedDocument;
}

async function document(value: unknown): Promise<RenderedDocument> {
  const body = Buffer.from(JSON.stringify(value));
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  return { body, gzipped: await gzipAsync(body, { level: 6 }), etag };
}

/**
 * The Incus Simple Streams projection. Writers (the publish pipeline, aliases) change rows and
 * bump the revision in their own transaction; readers render once per revision and serve the
 * cached bytes. A render reads the revision, rows and aliases in one snapshot and never reads
 * blobs.
 */
@Injectable()
export class StreamsService {
  private cached: RenderedStreams | undefined;
  private rendering: Promise<RenderedStreams> | undefined;
  private readonly renders: Counter;

  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: StreamsRepository,
    metrics: MetricsService,
  ) {
    this.renders = new Counter({
      name: 'imgsrv_streams_renders_total',
      help: 'Renderings of the streams documents (one per revision per process)',
      registers: [metrics.registry],
    });
  }

  /** Replaces a version's projection rows: re-running incus_index leaves one set. */
  replaceVersionItems(
    manager: EntityManager,
    versionId: string,
    items: StreamsItemInput[],
  ): Promise<void> {
    return this.repository.replaceVersionItems(manager, versionId, items);
  }

  /** Marks the documents stale: every API process renders the new revision on its next request. */
  bumpRevision(manager: EntityManager): Promise<number> {
    return this.repository.bumpRevision(manager);
  }

  /** The documents of the current revision, rendered at most once per revision in this process. */
  async current(): Promise<RenderedStreams> {
    const { revision } = await this.repository.revision();
    if (this.cached && this.cached.revision >= revision) return this.cached;
    this.rendering ??= this.render().finally(() => (this.rendering = undefined));
    const rendered = await this.rendering;
    if (!this.cached || rendered.revision > this.cached.revision) this.cached = rendered;
    return this.cached;
  }

  private async render(): Promise<RenderedStreams> {
    const { revision, rows, aliases } = await this.dataSource.transaction(
      'REPEATABLE READ',
      async (manager) => ({
        revision: await this.repository.revisionIn(manager),
        rows: await this.repository.publishedRows(manager),
        aliases: await this.repository.aliasesByVersion(manager),
      }),
    );
    const docs = projectStreams(
      rows.map((r) => ({ ...r, aliases: aliases.get(r.versionId) ?? [] })),
    );
    this.renders.inc();
    return { revision, index: await document(docs.index), images: await document(docs.images) };
  }
}
