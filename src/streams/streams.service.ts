import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
import { scopeKey } from '../auth/scope';
import { DomainError } from '../common/errors/domain-error';
import { fullCollection } from '../common/memory/full-collection';
import { Permits } from '../common/permits';
import { SiblingProcesses } from '../common/processes/sibling-processes';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import type { StreamsItemInput } from './streams-item.entity';
import {
  projectionOrder,
  sortForProjection,
  StreamsProjection,
  type ProjectedBytes,
  type ProjectionInput,
} from './streams.projector';
import { StreamsMetrics } from './streams.metrics';
import { StreamsRepository, type ItemCitation } from './streams.repository';

const gzipAsync = promisify(gzip);

/**
 * How long a process trusts the revision it last read before reading it again. Another process's
 * change shows within this time; a change made by this process shows at once (see `bumpRevision`).
 */
export const REVISION_RECHECK_MS = 250;

/** After this process bumps the revision, it re-reads it on every request for this long. */
const LOCAL_CHANGE_WINDOW_MS = 10_000;

/** What the API processes of one host tell each other when one bumps the revision. */
const REVISION_BUMPED = 'streams.revision-bumped';

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

/**
 * A render whose images.json has at least this many bytes is followed by a full collection of the
 * heap. Such a render leaves garbage several times the document's size (the rows read, the
 * projection's text, the documents it replaces) in a process that otherwise allocates little, and
 * V8 would keep it until its limits trip: at 10,000 published versions (a 15 MiB document) the
 * collection takes some 45 ms once per revision, and the server's peak memory while eleven
 * revisions rendered fell from 261-271 MiB to 219-233 MiB (alternated runs).
 */
export const COLLECT_AFTER_RENDER_BYTES = 4 * 1024 * 1024;

/** Scoped documents kept per revision: one per distinct set of read scopes, the oldest dropped. */
const SCOPED_CACHE_SIZE = 256;

/**
 * Scoped renders run at once; the others wait. Each holds a database connection while it projects
 * its rows, so many readers of different scopes after a publish must not take the whole pool.
 */
export const SCOPED_RENDERS_AT_ONCE = 2;

/**
 * The documents' bytes of `rows` (sorted here, in place, and emptied as they are read): each row
 * is let go as soon as the projection has taken it, so a collection while the projection's text
 * grows can free the rows already read.
 */
function projectAll(
  rows: ProjectionInput[],
  readable: (imageName: string) => boolean,
): StreamsProjection {
  const projection = new StreamsProjection();
  const sorted: (ProjectionInput | undefined)[] = sortForProjection(rows);
  for (let i = 0; i < sorted.length; i++) {
    const row = sorted[i] as ProjectionInput;
    sorted[i] = undefined;
    if (readable(row.imageName)) projection.add(row);
  }
  return projection;
}

async function renderDocuments(revision: number, bytes: ProjectedBytes): Promise<RenderedStreams> {
  return { revision, index: await document(bytes.index), images: await document(bytes.images) };
}

async function document(body: Buffer): Promise<RenderedDocument> {
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
  /** Documents of part of the catalog, by read scope, for `scopedRevision`. */
  private scoped = new Map<string, Promise<RenderedStreams>>();
  private scopedRevision = 0;
  private readonly scopedRenders = new Permits(SCOPED_RENDERS_AT_ONCE);
  private checking: Promise<{ revision: number }> | undefined;
  /** A full collection to run once the current work is done (see COLLECT_AFTER_RENDER_BYTES). */
  private collection: NodeJS.Immediate | undefined;
  /** The newest revision this process has read (or bumped and then read). */
  private knownRevision: number | undefined;
  /** Until then, `knownRevision` is known to be current (no database read needed). */
  private trustedUntil = 0;
  /** Until then, every request reads the revision: this process changed it very recently. */
  private recheckUntil = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: StreamsRepository,
    private readonly metrics: StreamsMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly siblings: SiblingProcesses,
  ) {
    siblings.on(REVISION_BUMPED, () => this.changedElsewhere());
  }

  /**
   * A streams item the caller may fetch: these bytes, when a published version of an image the
   * caller may read ships them, under a name the documents give them (the document names an item
   * after its first publication, which may be another image's). Anything else is the same 404, so
   * a caller learns nothing of images it may not read.
   */
  async locateItem(
    principal: Principal | null,
    sha256: string,
    filename: string,
  ): Promise<ItemCitation> {
    const citations = await this.repository.itemCitations(sha256);
    const mayRead = (c: ItemCitation) =>
      this.config.auth.publicRead || (principal?.can('content.read', c.imageName) ?? false);
    const served = citations.filter((c) => c.served);
    const readable = served.find(mayRead);
    const named = served.find((c) => c.filename === filename);
    if (readable && named) return { ...readable, filename };
    if (citations.some((c) => !c.served && c.filename === filename && mayRead(c)))
      throw new DomainError(
        'VERSION_WITHDRAWN',
        'Every version that shipped this file was withdrawn; it is no longer served.',
      );
    throw new DomainError('NOT_FOUND', 'No published image you may read lists such an item.');
  }

  /** Replaces a version's projection rows: re-running incus_index leaves one set. */
  replaceVersionItems(
    manager: EntityManager,
    versionId: string,
    items: StreamsItemInput[],
  ): Promise<void> {
    return this.repository.replaceVersionItems(manager, versionId, items);
  }

  /** A version's Incus fingerprints by artifact id, as incus_index projected them. */
  fingerprintsIn(manager: EntityManager, versionId: string): Promise<Map<string, string>> {
    return this.repository.fingerprints(manager, versionId);
  }

  /**
   * Marks the documents stale: every API process renders the new revision on its next request
   * after reading it (this one at once: the bump commits after this call, so for a while every
   * request here reads the revision instead of trusting the one it has; its sibling processes on
   * this host likewise, told before the bump commits).
   */
  bumpRevision(manager: EntityManager): Promise<number> {
    this.changedElsewhere();
    this.siblings.tell(REVISION_BUMPED);
    return this.repository.bumpRevision(manager);
  }

  /**
   * Another process on this host is bumping the revision (its supervisor passed the word on):
   * read the revision on every request for a while, as after a bump of this process's own, so
   * the change shows here at once rather than within REVISION_RECHECK_MS.
   */
  changedElsewhere(): void {
    this.trustedUntil = 0;
    this.recheckUntil = Date.now() + LOCAL_CHANGE_WINDOW_MS;
  }

  /**
   * The documents of the current revision, rendered at most once per revision in this process.
   * The revision itself is read at most every REVISION_RECHECK_MS while requests flow, so a
   * busy process answers from memory.
   */
  async current(): Promise<RenderedStreams> {
    return this.currentIfTrusted() ?? this.currentChecked();
  }

  /**
   * The documents `principal` may read: with public reads on, every image's; otherwise exactly
   * the images in its content.read scope, rendered once per scope set and revision, so readers
   * learn nothing (names, sizes, ETags) of other images.
   */
  async currentFor(principal: Principal | null): Promise<RenderedStreams> {
    const full = this.currentIfTrusted() ?? (await this.currentChecked());
    if (this.config.auth.publicRead) return full;
    const key = scopeKey(principal, 'content.read');
    if (key === '*') return full;
    if (this.scopedRevision < full.revision) {
      this.scoped.clear();
      this.scopedRevision = full.revision;
    }
    let rendered = this.scoped.get(key);
    if (!rendered) {
      // Read again rather than kept from the full render: a catalog's rows are many times the
      // size of its documents. The snapshot may be newer than `full`, never older.
      rendered = this.renderScoped((name) => principal?.can('content.read', name) ?? false);
      const mine = rendered;
      mine.catch(() => this.scoped.get(key) === mine && this.scoped.delete(key));
      if (this.scoped.size >= SCOPED_CACHE_SIZE)
        this.scoped.delete(this.scoped.keys().next().value as string);
      this.scoped.set(key, rendered);
    }
    return rendered;
  }

  /** The cached documents while their revision is trusted (no database read), else undefined. */
  currentIfTrusted(): RenderedStreams | undefined {
    const revision = this.revisionIfTrusted();
    return revision !== undefined && this.cached && this.cached.revision >= revision
      ? this.cached
      : undefined;
  }

  /**
   * The current revision while the one this process last read is trusted (no database read),
   * else undefined. Besides the documents, anything rendered from published versions (a
   * manifest, say) may be cached by it: every change to what a published version answers bumps it.
   */
  revisionIfTrusted(): number | undefined {
    return Date.now() < this.trustedUntil ? this.knownRevision : undefined;
  }

  /** The current revision: from memory while trusted, else read (one read shared by callers). */
  async revision(): Promise<number> {
    return this.revisionIfTrusted() ?? this.checkRevision();
  }

  private async checkRevision(): Promise<number> {
    const now = Date.now();
    // Requests that arrive while the revision is being read share that read, except just after
    // this process changed it: a read begun before that change committed could miss it.
    const { revision } =
      now < this.recheckUntil
        ? await this.repository.revision()
        : await (this.checking ??= this.repository
            .revision()
            .finally(() => (this.checking = undefined)));
    this.knownRevision = Math.max(this.knownRevision ?? 0, revision);
    if (now >= this.recheckUntil) this.trustedUntil = now + REVISION_RECHECK_MS;
    return this.knownRevision;
  }

  private async currentChecked(): Promise<RenderedStreams> {
    const revision = await this.checkRevision();
    if (this.cached && this.cached.revision >= revision) return this.cached;
    // An older revision's documents answer no one any more (requests wait for the new render):
    // let them go before the new ones take memory.
    this.cached = undefined;
    this.rendering ??= this.render().finally(() => (this.rendering = undefined));
    return this.keep(await this.rendering);
  }

  /** Keeps `rendered` unless newer documents are kept already; answers the kept ones. */
  private keep(rendered: RenderedStreams): RenderedStreams {
    if (!this.cached || rendered.revision > this.cached.revision) this.cached = rendered;
    return this.cached;
  }

  /** The documents of one snapshot: every image's, or those `readable` names. */
  private async render(readable?: (imageName: string) => boolean): Promise<RenderedStreams> {
    const { revision, projection } = await this.dataSource.transaction(
      'REPEATABLE READ',
      async (manager) => ({
        revision: await this.repository.revisionIn(manager),
        projection: await this.project(manager, readable ?? (() => true)),
      }),
    );
    const rendered = await renderDocuments(revision, projection.render());
    if (!readable) {
      this.metrics.renders.inc();
      if (rendered.images.body.length >= COLLECT_AFTER_RENDER_BYTES) this.collectSoon();
    }
    return rendered;
  }

  /** A render of part of the catalog, SCOPED_RENDERS_AT_ONCE at a time. */
  private async renderScoped(readable: (imageName: string) => boolean): Promise<RenderedStreams> {
    const release = await this.scopedRenders.acquire();
    try {
      return await this.render(readable);
    } finally {
      release();
    }
  }

  /**
   * A full collection after the requests waiting for a render have their documents (their
   * continuations run first). Only after the full render, so once per revision: scoped renders
   * (a part of the same catalog) leave less, and there may be many.
   */
  private collectSoon(): void {
    this.collection ??= setImmediate(() => {
      this.collection = undefined;
      const seconds = fullCollection();
      if (seconds === undefined) return;
      this.metrics.collectionSeconds.inc(seconds);
      this.metrics.collections.inc();
    });
  }

  /**
   * The projection of the rows in `manager`'s snapshot, read a batch at a time in projection
   * order so that a render never holds every row (at 20,000 rows, some 20 MiB). Should the
   * database hand them over in another order (keys whose characters sort differently there),
   * every row is read at once and sorted here instead.
   */
  private async project(
    manager: EntityManager,
    readable: (imageName: string) => boolean,
  ): Promise<StreamsProjection> {
    const projection = new StreamsProjection();
    let last: ProjectionInput | undefined;
    const inOrder = await this.repository.eachProjectionRow(manager, (row) => {
      if (last && projectionOrder(last, row) > 0) return false;
      last = row;
      if (readable(row.imageName)) projection.add(row);
      return true;
    });
    if (inOrder) return projection;
    this.metrics.sortedRenders.inc();
    return projectAll(await this.repository.projectionRows(manager), readable);
  }
}
