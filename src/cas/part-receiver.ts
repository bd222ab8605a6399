import { finished } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Actor } from '../auth/actor';
import { DomainError } from '../common/errors/domain-error';
import { BLOB_STORE, type BlobStore, type StagingRef } from './blob-store/blob-store';
import { MAX_PART_SIZE } from './cas-limits';
import type { UploadSessionEntity } from './cas.entities';
import { CasMetrics } from './cas.metrics';
import { parseContentDigest, type ContentDigest } from './digest';
import { PartMeter } from './part-meter';
import { FastSha256, ResumableSha256 } from './sha256-state';
import { isValidPartNumber } from './upload-parts';
import { UploadPartRepository } from './upload-part.repository';
import { UploadSessionRepository } from './upload-session.repository';
import { UploadSessions } from './upload-sessions';
import { effectiveState, isOpen } from './upload-state';
import type { PutPartInput, PutPartResult } from './upload.types';

/** Where a part continues the running hash: its state, the part before, the offset it starts at. */
interface ChainStart {
  readonly hasher: ResumableSha256;
  readonly prev: { readonly part: number; readonly etag: string } | null;
  readonly start: number;
}

/** A part's bytes as the store took them, with the hashes that watched them go by. */
interface ReceivedPart {
  readonly etag: string;
  readonly chain: ChainStart | null;
  readonly partHash: FastSha256 | null;
}

/**
 * How long a part waits for the part before it, still arriving at this process, to finish, so that
 * it continues the running hash (and, on the fs store, the chain file) instead of being stored apart
 * and read again at completion. Parallel parts on a fast link arrive almost together, and waiting
 * lets them chain; on a slow link the predecessor takes longer than this, and the parts go on in
 * parallel and are hashed at completion.
 */
export const PREDECESSOR_WAIT_MS = 5_000;

/**
 * How long a part whose predecessor has neither arrived nor begun to waits for it to begin at this
 * process: one client's parallel requests come within milliseconds of each other, in any order.
 */
export const PREDECESSOR_APPEAR_MS = 250;

/**
 * Receives one part of an upload (docs/uploads.md, "Parts"): its bytes go to the store as they
 * arrive, through the session's running SHA-256 when the part continues a hashed chain, so
 * completion need not read them again — in this process or any other. `putPart` reads as the
 * protocol's steps; each step is a method below.
 */
@Injectable()
export class PartReceiver {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sessions: UploadSessionRepository,
    private readonly parts: UploadPartRepository,
    private readonly uploadSessions: UploadSessions,
    private readonly metrics: CasMetrics,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
  ) {}

  /** Parts being received by this process, by `<upload id>/<part number>`, settled when done. */
  private readonly arriving = new Map<string, Promise<void>>();
  /** Parts waiting for the part of a key to begin arriving. */
  private readonly awaitingStart = new Map<string, Set<() => void>>();

  async putPart(input: PutPartInput, actor: Actor): Promise<PutPartResult> {
    const { contentLength, contentDigest } = this.checkRequest(input);
    const session = await this.openSession(input.uploadId, contentLength, actor);
    const key = `${input.uploadId}/${input.partNumber}`;
    let settle = () => {};
    const arriving = new Promise<void>((resolve) => (settle = resolve));
    this.arriving.set(key, arriving);
    for (const wake of this.awaitingStart.get(key) ?? []) wake();
    try {
      await this.predecessorArrived(input.uploadId, input.partNumber);
      const staging = await this.uploadSessions.ensureStaging(session);
      const chain = await this.chainStart(input.uploadId, input.partNumber);
      const received = await this.receive(input, contentLength, contentDigest, staging, chain);
      await this.checkContentDigest(input, contentDigest, staging, received);
      await this.recordPart(input, contentLength, staging, received);
      this.metrics.bytesReceived.inc(contentLength);
      return {
        uploadId: input.uploadId,
        partNumber: input.partNumber,
        etag: received.etag,
        sizeBytes: contentLength,
      };
    } finally {
      if (this.arriving.get(key) === arriving) this.arriving.delete(key);
      settle();
    }
  }

  /**
   * Waits for the previous part when this process is receiving it (at most PREDECESSOR_WAIT_MS),
   * or, when it is not received yet, for it to begin here (at most PREDECESSOR_APPEAR_MS).
   */
  private async predecessorArrived(uploadId: string, partNumber: number): Promise<void> {
    if (partNumber === 1) return;
    const key = `${uploadId}/${partNumber - 1}`;
    let previous = this.arriving.get(key);
    if (!previous) {
      const before = await this.parts.findPredecessor(uploadId, partNumber);
      if (before?.partNumber === partNumber - 1) return; // received already
      previous = (await this.startOf(key))?.arrival;
      if (!previous) return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      previous,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, PREDECESSOR_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** The arrival of the part of `key` once it begins here, or undefined after the appear wait. */
  private startOf(key: string): Promise<{ arrival: Promise<void> } | undefined> {
    const now = this.arriving.get(key);
    if (now) return Promise.resolve({ arrival: now });
    return new Promise((resolve) => {
      const waiters = this.awaitingStart.get(key) ?? new Set<() => void>();
      this.awaitingStart.set(key, waiters);
      const wake = () => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.awaitingStart.delete(key);
        const arrival = this.arriving.get(key);
        resolve(arrival ? { arrival } : undefined);
      };
      const timer = setTimeout(wake, PREDECESSOR_APPEAR_MS);
      waiters.add(wake);
    });
  }

  /** The part number, Content-Length and Content-Digest, before any session is looked up. */
  private checkRequest(input: PutPartInput): {
    contentLength: number;
    contentDigest: ContentDigest;
  } {
    const { partNumber, contentLength } = input;
    if (!isValidPartNumber(partNumber)) {
      throw new DomainError(
        'UPLOAD_PART_NUMBER_INVALID',
        `Part number ${partNumber} is outside 1-10000.`,
      );
    }
    if (contentLength === null) {
      throw new DomainError('LENGTH_REQUIRED', 'A part needs a Content-Length.');
    }
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
      throw DomainError.validation([
        { pointer: '/headers/content-length', detail: 'must be a whole number of bytes' },
      ]);
    }
    if (contentLength > MAX_PART_SIZE) {
      throw new DomainError('UPLOAD_PART_TOO_LARGE', 'A part carries at most 5 GiB.');
    }
    const contentDigest = parseContentDigest(input.contentDigest);
    if (contentDigest.kind === 'malformed') {
      throw DomainError.validation([
        { pointer: '/headers/content-digest', detail: contentDigest.reason },
      ]);
    }
    return { contentLength, contentDigest };
  }

  /** The caller's session, open for parts, and big enough for this one. */
  private async openSession(
    uploadId: string,
    contentLength: number,
    actor: Actor,
  ): Promise<UploadSessionEntity> {
    const session = await this.uploadSessions.find(uploadId, actor);
    this.uploadSessions.assertAcceptsParts(session);
    if (contentLength > session.expectedSizeBytes) {
      throw new DomainError(
        'UPLOAD_PART_TOO_LARGE',
        `The part (${contentLength} bytes) is larger than the whole upload (${session.expectedSizeBytes} bytes).`,
      );
    }
    return session;
  }

  /** The running hash this part continues: part 1 starts one; a later part follows a hashed one. */
  private async chainStart(uploadId: string, partNumber: number): Promise<ChainStart | null> {
    if (partNumber === 1) return { hasher: await ResumableSha256.create(), prev: null, start: 0 };
    const prev = await this.parts.findPredecessor(uploadId, partNumber);
    if (!prev?.hashState || prev.chainEnd === null) return null;
    try {
      return {
        hasher: await ResumableSha256.create(prev.hashState),
        prev: { part: prev.partNumber, etag: prev.etag },
        start: prev.chainEnd,
      };
    } catch {
      return null;
    }
  }

  /**
   * Streams the body to the store through a meter that counts and hashes it. Not pipeline(),
   * which destroys the request when the store fails: the answer (507 when the store is full) must
   * reach a client still sending, so the rest of its body is dropped instead.
   */
  private async receive(
    input: PutPartInput,
    contentLength: number,
    contentDigest: ContentDigest,
    staging: StagingRef,
    chain: ChainStart | null,
  ): Promise<ReceivedPart> {
    const partHash = contentDigest.kind === 'sha256' ? new FastSha256() : null;
    const meter = new PartMeter(
      contentLength,
      [chain?.hasher, partHash].filter((h) => h !== undefined && h !== null),
    );
    let bodyError: unknown;
    // The meter's failures reach us through the store's rejection and meter.failure; one the
    // meter emits after the store stopped reading it must not go unhandled.
    meter.on('error', () => undefined);
    input.body.pipe(meter);
    finished(input.body, (error) => {
      if (!error) return;
      bodyError = error;
      meter.destroy(error);
    });
    try {
      const stored = await this.store.putPart(staging, input.partNumber, meter, contentLength, {
        appendAt: chain?.start,
      });
      return { etag: stored.etag, chain, partHash };
    } catch (error) {
      chain?.hasher.dispose();
      input.body.unpipe(meter);
      input.body.resume();
      throw await this.receiveFailure(error, input, contentLength, meter, bodyError);
    }
  }

  /** Why a part's bytes did not all reach the store, as the client should hear it. */
  private async receiveFailure(
    error: unknown,
    input: PutPartInput,
    contentLength: number,
    meter: PartMeter,
    bodyError: unknown,
  ): Promise<unknown> {
    // The staging area went away under the part: the session was aborted or expired meanwhile.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      const now = await this.sessions.findById(input.uploadId);
      const state = now && effectiveState(now.state, now.expiresAt, new Date());
      if (state && !isOpen(state)) return this.uploadSessions.notOpen(state);
    }
    if (meter.failure === 'too_long') {
      return new DomainError(
        'UPLOAD_PART_TOO_LARGE',
        'The body is longer than its Content-Length.',
      );
    }
    if (error instanceof DomainError && error.code === 'STORAGE_FULL') {
      // Not the client's doing: the session takes the part once space returns.
      this.metrics.storeFull.inc({ operation: 'part' });
      return error;
    }
    if (meter.failure === 'too_short' || bodyError !== undefined || !input.body.readableEnded) {
      return new DomainError(
        'UPLOAD_PART_INCOMPLETE',
        `The body of part ${input.partNumber} ended after ${meter.bytes} of ${contentLength} bytes; send the part again.`,
      );
    }
    return error;
  }

  /**
   * A part whose bytes do not match its Content-Digest is forgotten altogether (the store may
   * already hold them under this number: S3 replaces at once), and the client sends it again.
   */
  private async checkContentDigest(
    input: PutPartInput,
    contentDigest: ContentDigest,
    staging: StagingRef,
    received: ReceivedPart,
  ): Promise<void> {
    if (
      !received.partHash ||
      contentDigest.kind !== 'sha256' ||
      received.partHash.bytes().equals(contentDigest.bytes)
    )
      return;
    received.chain?.hasher.dispose();
    const { uploadId, partNumber } = input;
    const oldEtag = await this.dataSource.transaction(async (manager) => {
      await this.sessions.lockById(manager, uploadId);
      return this.parts.delete(manager, uploadId, partNumber);
    });
    await this.uploadSessions.dropPart(staging, partNumber, received.etag);
    if (oldEtag) await this.uploadSessions.dropPart(staging, partNumber, oldEtag);
    throw new DomainError(
      'UPLOAD_PART_DIGEST_MISMATCH',
      `Part ${partNumber} does not match its Content-Digest; it was discarded.`,
    );
  }

  /**
   * Records the part and the hash state after it, while the session still takes parts; the bytes
   * of a part this one replaces are dropped after the commit, and this part's if it fails.
   */
  private async recordPart(
    input: PutPartInput,
    contentLength: number,
    staging: StagingRef,
    { etag, chain }: ReceivedPart,
  ): Promise<void> {
    const { uploadId, partNumber } = input;
    let replaced: string | null;
    try {
      const hashState = chain ? await chain.hasher.save() : null;
      replaced = await this.dataSource.transaction(async (manager) => {
        const locked = await this.sessions.lockById(manager, uploadId);
        if (!locked) throw new DomainError('UPLOAD_NOT_FOUND', `No upload session ${uploadId}.`);
        this.uploadSessions.assertAcceptsParts(locked);
        const old = await this.parts.upsert(manager, {
          uploadId,
          partNumber,
          sizeBytes: contentLength,
          etag,
          hashState,
          chainPrevPart: chain?.prev?.part ?? null,
          chainPrevEtag: chain?.prev?.etag ?? null,
          chainEnd: chain ? chain.start + contentLength : null,
        });
        if (locked.state === 'created')
          await this.sessions.update(manager, uploadId, { state: 'uploading' });
        return old;
      });
    } catch (error) {
      await this.uploadSessions.dropPart(staging, partNumber, etag);
      throw error;
    } finally {
      chain?.hasher.dispose();
    }
    if (replaced && replaced !== etag)
      await this.uploadSessions.dropPart(staging, partNumber, replaced);
  }
}
