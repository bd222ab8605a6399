import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AliasRepository } from '../aliases/alias.repository';
import { AliasesService } from '../aliases/aliases.service';
import type { Actor } from '../auth/actor';
import { globToRegExp } from '../auth/image-glob';
import { BlobReader } from '../cas/blob-reader';
import { PartReceiver } from '../cas/part-receiver';
import { ResumableSha256 } from '../cas/sha256-state';
import { isOpen } from '../cas/upload-state';
import { UploadService } from '../cas/upload.service';
import { ArtifactService } from '../catalog/artifact.service';
import { CatalogPort } from '../catalog/catalog-port';
import { CatalogService, type Manifest } from '../catalog/catalog.service';
import { DomainError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { Permits } from '../common/permits';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { normalizeArchitecture } from '../incus/architecture';
import { RetentionService } from '../lifecycle/retention.service';
import { PublishService } from '../publish/publish.service';
import { IncusFingerprints } from '../publish/steps/incus-fingerprints';
import {
  importVersions,
  mirroredAliasName,
  productPaths,
  selectVersions,
  type ImportVersion,
  type IndexDocument,
  type ProductsDocument,
  type StreamsItem,
} from '../simplestreams/reader';
import { CredentialsStore } from './credentials-store';
import { MirrorMetrics } from './mirror.metrics';
import {
  MirrorRepository,
  type ItemOutcome,
  type RemoteRow,
  type SyncLease,
} from './mirror.repository';
import { RateLimit, SliceError, sliceIntoParts } from './part-slicer';
import { imageNameFor, readerFilter } from './remote-fields';
import { describeFailure, Upstream, UpstreamError, type Validators } from './upstream';

/** Who the mirror's writes are recorded as. */
export const MIRROR_ACTOR: Actor = { principal: null, requestId: null, system: 'system:mirror' };

const INDEX_PATH = 'streams/v1/index.json';

/** The alias every mirrored image keeps on its newest mirrored version. */
const LATEST = 'latest';

/**
 * How often a running sync renews its lease and looks for a cancel: a third of the lease, and at
 * least every 2 s, so a cancel stops a transfer within seconds.
 */
const HEARTBEAT_MS = (leaseMs: number) => Math.max(200, Math.min(2_000, Math.floor(leaseMs / 3)));

/** The sync was cancelled, or its lease passed to another worker: stop without finishing. */
class Stopped extends Error {
  constructor(readonly why: 'cancelled' | 'lease_lost') {
    super(why);
  }
}

/** One upstream file the selected versions need, keyed by its sha256. */
interface WantedFile {
  readonly item: StreamsItem;
  readonly digest: string;
  /**
   * For a root image: the metadata tarball it pairs with. Fetched from its first byte after that
   * tarball is in the store, the root is also hashed after the tarball's bytes on the way in, which
   * gives the pair's combined fingerprint, so its publish need not read the root again.
   */
  readonly metadata?: StreamsItem;
}

/** One imgsrv version the sync composes: upstream products of one image and serial. */
interface VersionGroup {
  readonly image: string;
  readonly version: string;
  readonly sources: ImportVersion[];
}

interface SyncSummary {
  readonly failures: number;
  readonly validators: RemoteRow['upstreamValidators'] | null;
  readonly note: string | null;
}

/**
 * Runs sync jobs (docs/mirroring.md): under a lease in PostgreSQL, renewed by a heartbeat that
 * also notices a cancel, it reads the upstream's documents, selects by the remote's filters,
 * streams every missing file into the store through an upload session (the server hashes every
 * byte and refuses a file whose digest or size differs from the index), composes and publishes a
 * version per upstream serial, and moves the mapped aliases. A file that fails fails alone; a
 * later sync continues an interrupted file from the first part not received.
 */
@Injectable()
export class SyncRunner {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  constructor(
    private readonly dataSource: DataSource,
    private readonly repo: MirrorRepository,
    private readonly credentials: CredentialsStore,
    private readonly uploads: UploadService,
    private readonly parts: PartReceiver,
    private readonly blobs: BlobReader,
    private readonly catalog: CatalogService,
    private readonly catalogPort: CatalogPort,
    private readonly artifacts: ArtifactService,
    private readonly publish: PublishService,
    private readonly fingerprints: IncusFingerprints,
    private readonly aliases: AliasesService,
    private readonly aliasRows: AliasRepository,
    private readonly retention: RetentionService,
    private readonly events: EventsService,
    private readonly metrics: MirrorMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Claims the sync and runs it to its end; returns at once when another worker holds it. */
  async run(syncId: string): Promise<void> {
    const { leaseMs } = this.config.mirror;
    const sync = await this.repo.claim(syncId, this.owner, leaseMs);
    if (!sync) return;
    const lease: SyncLease = { syncId, owner: this.owner, attempt: sync.attempt };
    const remote = await this.repo.findRemoteById(sync.remoteId);
    if (!remote) return;
    const started = Date.now();
    const abort = new AbortController();
    const beat = setInterval(() => {
      this.repo.heartbeat(lease, leaseMs).then(
        ({ held, cancel }) => {
          if (!held) abort.abort(new Stopped('lease_lost'));
          else if (cancel) abort.abort(new Stopped('cancelled'));
        },
        (error: unknown) =>
          this.logger.warn(
            { syncId, err: { message: (error as Error).message } },
            'sync heartbeat failed',
          ),
      );
    }, HEARTBEAT_MS(leaseMs));
    this.logger.info({ syncId, remote: remote.name, attempt: sync.attempt }, 'sync started');
    let state: 'succeeded' | 'failed' | 'cancelled';
    let error: string | null;
    let summary: SyncSummary | null = null;
    const job = new SyncJob(this, remote, lease, abort.signal);
    try {
      summary = await job.run();
      state = summary.failures === 0 ? 'succeeded' : 'failed';
      if (summary.failures > 0)
        error = `${summary.failures} item(s) failed; see the items. The next sync tries them again.`;
      else error = summary.note;
    } catch (failure) {
      const reason = abort.signal.aborted ? abort.signal.reason : failure;
      if (reason instanceof Stopped && reason.why === 'lease_lost') {
        this.logger.warn({ syncId, remote: remote.name }, 'sync lease lost; another worker has it');
        return;
      }
      if (reason instanceof Stopped) {
        state = 'cancelled';
        error = 'cancelled';
      } else {
        state = 'failed';
        error = (failure as Error).message;
      }
    } finally {
      clearInterval(beat);
      await job.close();
    }
    await this.finish(remote, lease, state, error, summary, job.progress, started);
  }

  private async finish(
    remote: RemoteRow,
    lease: SyncLease,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: string | null,
    summary: SyncSummary | null,
    progress: SyncJob['progress'],
    started: number,
  ): Promise<void> {
    const recorded = await this.dataSource.transaction(async (manager) => {
      if (!(await this.repo.finish(manager, lease, state, error))) return null;
      await this.repo.setRemoteResult(
        manager,
        remote.id,
        state === 'succeeded',
        state === 'succeeded' ? (summary?.validators ?? null) : null,
      );
      return this.events.record(manager, {
        type: 'remote.sync_finished',
        imageName: null,
        orderingSubject: remote.name,
        data: {
          remote: remote.name,
          sync_id: lease.syncId,
          state,
          error,
          items_done: progress.itemsDone,
          items_failed: progress.itemsFailed,
          bytes_fetched: progress.bytesFetched,
          versions_published: progress.versionsPublished,
          aliases_moved: progress.aliasesMoved,
        },
      });
    });
    if (!recorded) return;
    await this.events.wake(recorded);
    this.metrics.duration.observe({ remote: remote.name, state }, (Date.now() - started) / 1000);
    this.logger.info(
      { syncId: lease.syncId, remote: remote.name, state, error, ...progress },
      'sync finished',
    );
  }

  // What a SyncJob reaches of the runner's collaborators.
  get deps() {
    return {
      repo: this.repo,
      credentials: this.credentials,
      uploads: this.uploads,
      parts: this.parts,
      blobs: this.blobs,
      catalog: this.catalog,
      catalogPort: this.catalogPort,
      artifacts: this.artifacts,
      publish: this.publish,
      fingerprints: this.fingerprints,
      aliases: this.aliases,
      aliasRows: this.aliasRows,
      retention: this.retention,
      metrics: this.metrics,
      config: this.config,
      logger: this.logger,
    };
  }
}

/** One run of one sync. */
class SyncJob {
  readonly progress = {
    itemsTotal: 0,
    itemsDone: 0,
    itemsFailed: 0,
    bytesTotal: 0,
    bytesFetched: 0,
    versionsPublished: 0,
    aliasesMoved: 0,
  };
  private readonly d: SyncRunner['deps'];
  private upstream: Upstream | null = null;
  private readonly failedDigests = new Set<string>();
  private settledOf: (sha: string) => Promise<void> | undefined = () => undefined;
  private readonly rate: RateLimit | null;
  private flushing: Promise<void> = Promise.resolve();
  private lastFlush = 0;

  constructor(
    runner: SyncRunner,
    private readonly remote: RemoteRow,
    private readonly lease: SyncLease,
    private readonly signal: AbortSignal,
  ) {
    this.d = runner.deps;
    this.rate = remote.bandwidthLimitBps ? new RateLimit(remote.bandwidthLimitBps) : null;
  }

  async close(): Promise<void> {
    await this.upstream?.close();
  }

  private checkpoint(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  async run(): Promise<SyncSummary> {
    const { remote } = this;
    const password =
      remote.passwordSealed === null
        ? null
        : await this.d.credentials.open(remote.passwordSealed, remote.id);
    this.upstream = new Upstream({
      url: remote.url,
      caPem: remote.caPem,
      username: remote.username,
      password,
      idleTimeoutMs: this.d.config.mirror.idleTimeoutMs,
    });
    const documents = await this.readDocuments();
    if (documents === 'unchanged')
      return {
        failures: 0,
        validators: null,
        note: 'the upstream documents have not changed since the last complete sync',
      };
    const filter = readerFilter(remote.filters);
    const selected = selectVersions(
      documents.docs.flatMap((doc) => importVersions(doc)),
      filter,
      remote.keepLatest ?? 0,
    );
    const groups = new Map<string, VersionGroup>();
    for (const v of selected) {
      if (v.artifacts.length === 0) continue;
      const image = imageNameFor(remote.imageNameTemplate, v, remote.name);
      const key = `${image}\u0000${v.version}`;
      const group = groups.get(key) ?? { image, version: v.version, sources: [] };
      group.sources.push(v);
      groups.set(key, group);
    }
    const sorted = [...groups.values()].sort(
      (a, b) => a.image.localeCompare(b.image) || a.version.localeCompare(b.version),
    );
    // Versions of images outside the remote's scope are not made, and their files not fetched.
    const scope = remote.imageScope.map((g) => globToRegExp(g));
    const ordered = sorted.filter((g) => scope.some((re) => re.test(g.image)));
    const outside = sorted.filter((g) => !ordered.includes(g));
    // Files in the order of the versions that need them, so versions complete one after another.
    const files = new Map<string, WantedFile>();
    const filesOf = (g: VersionGroup) =>
      g.sources.flatMap((v) => v.artifacts.flatMap((a) => [a.metadata, a.root]));
    for (const g of ordered)
      for (const { metadata, root } of g.sources.flatMap((v) => v.artifacts)) {
        if (!files.has(metadata.sha256))
          files.set(metadata.sha256, { item: metadata, digest: `sha256:${metadata.sha256}` });
        if (!files.has(root.sha256))
          files.set(root.sha256, { item: root, digest: `sha256:${root.sha256}`, metadata });
      }

    this.progress.itemsTotal = files.size + groups.size;
    this.progress.bytesTotal = [...files.values()].reduce((n, f) => n + f.item.size, 0);
    await this.flush(true);
    for (const g of outside)
      await this.versionOutcome(
        g,
        'skipped',
        `image ${g.image} is outside the remote's image scope (${remote.imageScope.join(', ')})`,
      );

    // A version is composed and its publish started as soon as its own files are in (or failed),
    // while the files of the next ones still arrive; the publish workers run side by side.
    const settled = new Map([...files.keys()].map((sha) => [sha, settlement()]));
    const copying = this.copyFiles(
      [...files.values()],
      (sha) => settled.get(sha)?.resolve(),
      (sha) => settled.get(sha)?.promise,
    );
    copying.catch((error: unknown) => {
      for (const s of settled.values()) s.reject(error);
    });
    const published = new Set<string>();
    const publishing: Promise<void>[] = [];
    try {
      for (const group of ordered) {
        await Promise.all(filesOf(group).map((item) => settled.get(item.sha256)?.promise));
        this.checkpoint();
        const key = `${group.image}\u0000${group.version}`;
        const outcome = await this.composeVersion(group);
        if (outcome === true) published.add(key);
        else if (outcome !== false)
          publishing.push(outcome().then((ok) => void (ok && published.add(key))));
      }
    } finally {
      // Stopped early (a cancel): the copies stop at their next step; wait for them to.
      await Promise.allSettled([copying, ...publishing]);
    }
    await copying;
    await Promise.all(publishing);
    this.checkpoint();
    await this.moveAliases(ordered.filter((g) => published.has(`${g.image}\u0000${g.version}`)));
    await this.applyRetention(ordered);
    await this.flush(true);
    return {
      failures: this.progress.itemsFailed,
      validators: documents.validators,
      note: outside.length
        ? `${outside.length} version(s) of images outside the remote's image scope were skipped`
        : null,
    };
  }

  // ---- documents

  /**
   * The index and the products documents it names. After a complete sync, the documents are read
   * conditionally: when none changed, there is nothing to do.
   */
  private async readDocuments(): Promise<
    'unchanged' | { docs: ProductsDocument[]; validators: RemoteRow['upstreamValidators'] }
  > {
    const upstream = this.upstream as Upstream;
    const known = this.remote.lastSuccessAt ? this.remote.upstreamValidators : {};
    const validators: Record<string, Validators> = {};
    const index = await upstream.document<IndexDocument>(INDEX_PATH, known[INDEX_PATH]);
    let paths: string[];
    if (index.changed) {
      validators[INDEX_PATH] = index.validators;
      paths = productPaths(index.body);
    } else {
      validators[INDEX_PATH] = known[INDEX_PATH];
      paths = Object.keys(known).filter((p) => p !== INDEX_PATH);
    }
    const docs: ProductsDocument[] = [];
    let changed = index.changed;
    const unchangedPaths: string[] = [];
    for (const path of paths) {
      this.checkpoint();
      const read = await upstream.document<ProductsDocument>(path, known[path]);
      if (read.changed) {
        changed = true;
        validators[path] = read.validators;
        docs.push(read.body);
      } else {
        validators[path] = known[path];
        unchangedPaths.push(path);
      }
    }
    if (!changed) return 'unchanged';
    // Something changed: the documents that did not are read again whole.
    for (const path of unchangedPaths) {
      const read = await upstream.document<ProductsDocument>(path);
      if (read.changed) {
        validators[path] = read.validators;
        docs.push(read.body);
      }
    }
    return { docs, validators };
  }

  // ---- files

  /**
   * Copies what the store lacks, `concurrency` transfers at a time; `settle` hears of each file's
   * end, and `settledOf` answers when a file has ended. A file's transfer gives its slot to the
   * next file as soon as its bytes are in: closing the upload (the last sync, the verification)
   * overlaps the next transfer. Returns once every file has ended.
   */
  private async copyFiles(
    files: WantedFile[],
    settle: (sha: string) => void,
    settledOf: (sha: string) => Promise<void> | undefined,
  ): Promise<void> {
    this.settledOf = settledOf;
    const trusted = await this.d.blobs.trustedSizes(files.map((f) => f.digest));
    const missing: WantedFile[] = [];
    for (const f of files) {
      const size = trusted.get(f.digest);
      if (size === undefined) {
        missing.push(f);
        continue;
      }
      if (size === f.item.size) await this.fileOutcome(f, 'present', 0, 1);
      else
        await this.fileOutcome(
          f,
          'failed',
          0,
          1,
          `the store holds ${f.digest} with ${size} bytes; the upstream index says ${f.item.size}`,
        );
      settle(f.item.sha256);
    }
    if (missing.length === 0) return;
    const transfers = new Permits(Math.min(this.remote.concurrency, missing.length));
    const outcomes = await Promise.allSettled(
      missing.map(async (file) => {
        await this.copyWithRetries(file, transfers);
        settle(file.item.sha256);
      }),
    );
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async copyWithRetries(file: WantedFile, transfers: Permits): Promise<void> {
    const { attempts, backoffBaseMs } = this.d.config.mirror;
    let fetched = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const moved = await this.copyFile(file, transfers, (n) => (fetched += n));
        await this.fileOutcome(file, moved ? 'fetched' : 'present', fetched, attempt);
        return;
      } catch (error) {
        if (this.signal.aborted) throw this.signal.reason;
        const retryable =
          (error instanceof UpstreamError && error.retryable) ||
          error instanceof SliceError ||
          (error instanceof DomainError && error.code === 'UPLOAD_NOT_OPEN');
        const message = (error as Error).message;
        if (!retryable || attempt >= attempts) {
          await this.fileOutcome(file, 'failed', fetched, attempt, message);
          return;
        }
        this.d.logger.warn(
          { remote: this.remote.name, path: file.item.path, attempt, err: { message } },
          'upstream file failed; trying again',
        );
        await sleep(backoffBaseMs * 2 ** (attempt - 1), this.signal);
      }
    }
  }

  /**
   * Streams one file into the store: in the upload session an earlier attempt or sync left for
   * it when that is still open (from the first part it lacks, with a Range request), else in a
   * new one. False when the store had it already. Holds a transfer slot from the session's
   * opening to the last byte; a root first waits, without a slot, for its metadata tarball to
   * end (the tarball may need a slot to try again).
   */
  private async copyFile(
    file: WantedFile,
    transfers: Permits,
    counted: (bytes: number) => void,
  ): Promise<boolean> {
    if (file.metadata) await this.settledOf(file.metadata.sha256)?.catch(() => undefined);
    const release = await transfers.acquire();
    let combined: { hash: ResumableSha256; metadataDigest: string } | null = null;
    try {
      this.checkpoint();
      const opened = await this.openUpload(file);
      if (!opened) return false;
      const { uploadId, whole, listed } = opened;
      const offset = whole * this.d.config.mirror.partSizeBytes;
      combined = offset === 0 ? await this.combinedHash(file) : null;
      await this.transfer(file, uploadId, offset, whole, listed, counted, combined);
      release();
      return await this.completeUpload(file, uploadId, listed, combined);
    } finally {
      release();
      combined?.hash.dispose();
    }
  }

  /**
   * The file's upload session (resumed or begun) with the run of whole parts it holds from the
   * first on; null when the store has the file already.
   */
  private async openUpload(file: WantedFile): Promise<{
    uploadId: string;
    whole: number;
    listed: Map<number, { etag: string; sizeBytes: number }>;
  } | null> {
    const { uploads } = this.d;
    const partSize = this.d.config.mirror.partSizeBytes;
    const size = file.item.size;
    let uploadId = await this.resumable(file);
    if (!uploadId) {
      const begun = await uploads.begin(
        {
          expectedDigest: file.digest,
          expectedSizeBytes: size,
          mediaTypeHint: null,
          filenameHint: file.item.path.split('/').pop() ?? null,
        },
        MIRROR_ACTOR,
      );
      if (!begun.created) return null;
      uploadId = begun.session.id;
    }
    await this.itemRow(file, 'pending', 0, 0, null, uploadId);
    const session = await uploads.getSession(uploadId, MIRROR_ACTOR);
    const received = new Map(session.parts.map((p) => [p.partNumber, p]));
    // Parts arrive in order, so what a stopped transfer left is a run of whole parts from 1.
    let whole = 0;
    while (
      received.get(whole + 1)?.sizeBytes === Math.min(partSize, size - whole * partSize) &&
      whole * partSize < size
    )
      whole++;
    const listed = new Map<number, { etag: string; sizeBytes: number }>();
    for (let n = 1; n <= whole; n++) {
      const p = received.get(n)!;
      listed.set(n, { etag: p.etag, sizeBytes: p.sizeBytes });
    }
    return { uploadId, whole, listed };
  }

  /**
   * For a root fetched from its first byte: a hash that has seen its metadata tarball's bytes, to
   * be continued over the root's. Null when the tarball is not in the store.
   */
  private async combinedHash(
    file: WantedFile,
  ): Promise<{ hash: ResumableSha256; metadataDigest: string } | null> {
    if (!file.metadata) return null;
    const metadataDigest = `sha256:${file.metadata.sha256}`;
    let hash: ResumableSha256 | undefined;
    try {
      if (!(await this.d.blobs.trustedSizes([metadataDigest])).has(metadataDigest)) return null;
      hash = await ResumableSha256.create();
      for await (const chunk of (await this.d.blobs.readBlob(metadataDigest)).stream)
        await hash.update(chunk as Buffer);
      return { hash, metadataDigest };
    } catch (error) {
      // Only a saving: the publish computes the fingerprint when the transfer did not.
      hash?.dispose();
      if (!this.signal.aborted)
        this.d.logger.warn(
          {
            remote: this.remote.name,
            path: file.item.path,
            err: { message: (error as Error).message },
          },
          'could not hash the metadata tarball before its root; the publish will',
        );
      return null;
    }
  }

  /** The file's bytes from `offset` on, into the session's parts from `whole + 1`. */
  private async transfer(
    file: WantedFile,
    uploadId: string,
    offset: number,
    whole: number,
    listed: Map<number, { etag: string; sizeBytes: number }>,
    counted: (bytes: number) => void,
    combined: { hash: ResumableSha256 } | null,
  ): Promise<void> {
    const { parts } = this.d;
    const partSize = this.d.config.mirror.partSizeBytes;
    const size = file.item.size;
    if (offset < size || size === 0) {
      try {
        const response = await (this.upstream as Upstream).file(
          file.item.path,
          offset,
          size,
          this.signal,
        );
        await sliceIntoParts(response.body, {
          firstPart: whole + 1,
          skipBytes: offset - response.offset,
          partSize,
          remainingBytes: size - offset,
          observe: combined ? (run) => combined.hash.update(run) : undefined,
          beforeChunk: async (bytes) => {
            await this.rate?.take(bytes);
            counted(bytes);
            this.progress.bytesFetched += bytes;
            this.d.metrics.bytesFetched.inc({ remote: this.remote.name }, bytes);
            void this.flush(false);
          },
          send: async (partNumber, body, length) => {
            const stored = await parts.putPart(
              { uploadId, partNumber, body, contentLength: length },
              MIRROR_ACTOR,
            );
            listed.set(partNumber, { etag: stored.etag, sizeBytes: length });
          },
        });
      } catch (error) {
        // The store's refusals and the slicer's own say what they are; the rest is the transfer
        // (a stall past the idle limit, a reset connection).
        if (
          error instanceof DomainError ||
          error instanceof SliceError ||
          error instanceof UpstreamError
        )
          throw error;
        if (this.signal.aborted) throw error;
        throw describeFailure(error, file.item.path);
      }
    }
  }

  /**
   * Completes the session and waits for it to verify; then records the combined fingerprint the
   * transfer computed, the root's bytes now being known to be the ones the index names.
   */
  private async completeUpload(
    file: WantedFile,
    uploadId: string,
    listed: Map<number, { etag: string; sizeBytes: number }>,
    combined: { hash: ResumableSha256; metadataDigest: string } | null,
  ): Promise<true> {
    const { uploads } = this.d;
    const list = [...listed.entries()]
      .sort(([a], [b]) => a - b)
      .map(([number, p]) => ({ number, etag: p.etag, sizeBytes: p.sizeBytes }));
    let done = await uploads.complete(uploadId, list, MIRROR_ACTOR);
    const deadline = Date.now() + this.d.config.mirror.publishWaitMs;
    while (done.state === 'verifying' || done.state === 'completed') {
      if (Date.now() > deadline)
        throw new UpstreamError(`${file.item.path}: verification did not finish in time`, true);
      await sleep(500, this.signal);
      done = await uploads.getSession(uploadId, MIRROR_ACTOR);
    }
    if (done.state !== 'ready')
      throw new UpstreamError(
        `${file.item.path} did not verify: ${done.failureMessage ?? done.state}`,
        false,
      );
    if (combined)
      await this.d.fingerprints.record(
        combined.metadataDigest,
        file.digest,
        await combined.hash.hex(),
      );
    return true;
  }

  /** The open upload session an earlier attempt or sync of this remote left for the file. */
  private async resumable(file: WantedFile): Promise<string | null> {
    const id = await this.d.repo.lastUploadOf(this.remote.id, file.digest);
    if (!id) return null;
    try {
      const session = await this.d.uploads.getSession(id, MIRROR_ACTOR);
      const open = isOpen(session.state);
      return open && session.expiresAt.getTime() > Date.now() + 60_000 ? id : null;
    } catch {
      return null;
    }
  }

  private async fileOutcome(
    file: WantedFile,
    outcome: ItemOutcome,
    bytes: number,
    attempts: number,
    error: string | null = null,
  ): Promise<void> {
    if (outcome === 'failed') {
      this.failedDigests.add(file.item.sha256);
      this.progress.itemsFailed += 1;
    }
    this.progress.itemsDone += 1;
    this.d.metrics.items.inc({ remote: this.remote.name, outcome });
    await this.itemRow(file, outcome, bytes, attempts, error);
    await this.flush(true);
  }

  private itemRow(
    file: WantedFile,
    outcome: ItemOutcome,
    bytes: number,
    attempts: number,
    error: string | null,
    uploadId?: string,
  ): Promise<void> {
    return this.d.repo.upsertItem(this.lease.syncId, {
      kind: 'file',
      key: file.item.path,
      image: null,
      version: null,
      digest: file.digest,
      sizeBytes: file.item.size,
      outcome,
      bytesFetched: bytes,
      uploadId,
      attempts,
      error,
    });
  }

  /** Writes the progress figures (at most once a second unless `now`), under the lease. */
  private async flush(now: boolean): Promise<void> {
    if (!now && Date.now() - this.lastFlush < 1000) return;
    this.lastFlush = Date.now();
    this.flushing = this.flushing.then(async () => {
      const held = await this.d.repo.progress(this.lease, { ...this.progress });
      if (!held && !this.signal.aborted)
        this.d.logger.warn({ syncId: this.lease.syncId }, 'sync progress not written: lease lost');
    });
    await this.flushing.catch(() => undefined);
  }

  // ---- versions

  /**
   * Composes one version and starts its publish: true when it was published before, false when
   * it cannot be, else the wait for its publish (true once published).
   */
  private async composeVersion(group: VersionGroup): Promise<boolean | (() => Promise<boolean>)> {
    const { image, version } = group;
    const key = `${image}:${version}`;
    const record = (outcome: ItemOutcome, error: string | null = null) =>
      this.versionOutcome(group, outcome, error);
    const wanted = group.sources.flatMap((v) =>
      v.artifacts.map((a) => ({ ...a, os: v.os, arch: v.arch, variant: v.variant })),
    );
    const seen = new Set<string>();
    for (const w of wanted) {
      const slot = `${normalizeArchitecture(w.arch)} ${w.variant} ${w.format}`;
      if (seen.has(slot)) {
        await record(
          'failed',
          `the image name template puts two upstream products with ${slot} into ${key}; add {release} (or {arch}, {variant}) to it`,
        );
        return false;
      }
      seen.add(slot);
    }
    const missing = wanted.filter(
      (w) => this.failedDigests.has(w.root.sha256) || this.failedDigests.has(w.metadata.sha256),
    );
    if (missing.length > 0) {
      await record('skipped', `${missing.length} artifact(s) lack a file that failed to copy`);
      return false;
    }
    try {
      let manifest = await this.d.catalogPort.manifestIfAny(image, version);
      if (
        manifest &&
        (manifest.version.state === 'published' || manifest.version.state === 'withdrawn')
      ) {
        await record('unchanged');
        return manifest.version.state === 'published';
      }
      if (!manifest || manifest.version.state === 'draft') {
        if (!manifest) manifest = await this.createVersion(group);
        await this.fillVersion(manifest, wanted);
      }
      const { view } = await this.d.publish.publish(MIRROR_ACTOR, image, version);
      return async () => {
        try {
          await this.waitForJob(view.job.id, key);
          await record('published');
          return true;
        } catch (error) {
          if (this.signal.aborted) throw this.signal.reason;
          await record('failed', (error as Error).message);
          return false;
        }
      };
    } catch (error) {
      if (this.signal.aborted) throw this.signal.reason;
      await record('failed', (error as Error).message);
      return false;
    }
  }

  private async versionOutcome(
    group: VersionGroup,
    outcome: ItemOutcome,
    error: string | null = null,
  ): Promise<void> {
    if (outcome === 'failed') this.progress.itemsFailed += 1;
    if (outcome === 'published') this.progress.versionsPublished += 1;
    this.progress.itemsDone += 1;
    this.d.metrics.items.inc({ remote: this.remote.name, outcome });
    await this.d.repo.upsertItem(this.lease.syncId, {
      kind: 'version',
      key: `${group.image}:${group.version}`,
      image: group.image,
      version: group.version,
      digest: null,
      sizeBytes: null,
      outcome,
      attempts: 1,
      error,
    });
    await this.flush(true);
  }

  private async createVersion(group: VersionGroup): Promise<Manifest> {
    const { image, version } = group;
    const first = group.sources[0];
    try {
      await this.d.catalog.createImage(MIRROR_ACTOR, {
        name: image,
        displayName: null,
        description: `${first.os} ${first.release}, mirrored from ${this.remote.name}`,
      });
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'IMAGE_EXISTS')) throw error;
    }
    try {
      await this.d.catalog.createVersion(MIRROR_ACTOR, image, version);
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'VERSION_EXISTS')) throw error;
    }
    return (await this.d.catalogPort.manifestIfAny(image, version)) as Manifest;
  }

  /** Adds the artifacts (and their metadata tarballs) a draft lacks: a crashed sync's draft too. */
  private async fillVersion(
    manifest: Manifest,
    wanted: (ImportVersion['artifacts'][number] & { os: string; arch: string; variant: string })[],
  ): Promise<void> {
    const { name } = manifest.image;
    const { version } = manifest.version;
    for (const w of wanted) {
      this.checkpoint();
      const have = manifest.artifacts.find(
        (a) =>
          a.artifact.format === w.format &&
          a.artifact.architecture === normalizeArchitecture(w.arch) &&
          a.artifact.variant === w.variant &&
          a.artifact.operatingSystem === w.os,
      );
      if (have?.attachments.some((a) => a.name === 'incus.tar.xz')) continue;
      const artifact =
        have?.artifact ??
        (await this.d.artifacts.createArtifact(MIRROR_ACTOR, name, version, {
          variant: w.variant,
          operatingSystem: w.os,
          architecture: w.arch,
          format: w.format,
          primaryBlobDigest: `sha256:${w.root.sha256}`,
          primaryBlobSizeBytes: w.root.size,
          primaryMediaType:
            w.format === 'qcow2' ? 'application/x-qemu-disk' : 'application/vnd.squashfs',
        }));
      await this.d.artifacts.createAttachment(MIRROR_ACTOR, name, version, artifact.id, {
        name: 'incus.tar.xz',
        mediaType: 'application/x-xz',
        blobDigest: `sha256:${w.metadata.sha256}`,
        blobSizeBytes: w.metadata.size,
      });
    }
  }

  private async waitForJob(jobId: string, key: string): Promise<void> {
    const deadline = Date.now() + this.d.config.mirror.publishWaitMs;
    for (;;) {
      const { state, failure } = await this.d.publish.jobOutcome(jobId);
      if (state === 'succeeded') return;
      if (state === 'failed' || state === 'cancelled')
        throw new Error(`publishing ${key} ${state}${failure ? `: ${failure}` : ''}`);
      if (Date.now() > deadline)
        throw new Error(
          `publishing ${key} did not finish within IMGSRV_MIRROR_PUBLISH_WAIT (job ${jobId})`,
        );
      await sleep(100, this.signal);
    }
  }

  // ---- aliases and retention

  /**
   * Each upstream alias becomes an alias of its image (see mirroredAliasName) on the newest
   * version of the products that carry it, as the Incus client resolves it upstream; `latest`
   * follows each image's newest mirrored version.
   */
  private async moveAliases(published: VersionGroup[]): Promise<void> {
    const newest = new Map<string, { image: string; alias: string; version: string }>();
    for (const g of published)
      for (const v of g.sources)
        for (const a of v.aliases) {
          const alias = mirroredAliasName(a, g.image, v.variant);
          if (!alias) continue;
          const key = `${g.image}\u0000${alias}`;
          const current = newest.get(key);
          if (!current || current.version < g.version)
            newest.set(key, { image: g.image, alias, version: g.version });
        }
    // And `latest` of every image: its newest mirrored version.
    for (const g of published) {
      const key = `${g.image}\u0000${LATEST}`;
      const current = newest.get(key);
      if (!current || current.version < g.version)
        newest.set(key, { image: g.image, alias: LATEST, version: g.version });
    }
    for (const { image, alias, version } of newest.values()) {
      this.checkpoint();
      const manifest = await this.d.catalogPort.manifestIfAny(image, version);
      if (!manifest) continue;
      const before = await this.d.aliasRows.find(manifest.image.id, alias);
      if (before?.version === version) continue;
      // A newer local version (published by hand) keeps its alias: the mirror moves forward only.
      if (before && before.version > version) continue;
      try {
        await this.d.aliases.put(MIRROR_ACTOR, image, alias, version);
        this.progress.aliasesMoved += 1;
      } catch (error) {
        this.d.logger.warn(
          { remote: this.remote.name, image, alias, err: { message: (error as Error).message } },
          'could not move a mirrored alias',
        );
      }
    }
    await this.flush(true);
  }

  /** keep_latest: the mirrored images keep that many published versions (retention policy). */
  private async applyRetention(groups: VersionGroup[]): Promise<void> {
    const keep = this.remote.keepLatest;
    if (keep === null) return;
    for (const image of new Set(groups.map((g) => g.image))) {
      const current = await this.d.retention.get(null, image).catch(() => null);
      if (current?.keepLatest === keep) continue;
      await this.d.retention.put(MIRROR_ACTOR, image, {
        keepLatest: keep,
        keepDays: current?.keepDays ?? null,
        keepAliased: current?.keepAliased ?? true,
      });
    }
  }
}

/** A promise settled from outside; a rejection nobody awaits is not an unhandled one. */
function settlement(): {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
} {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}
