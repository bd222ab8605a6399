import type { Readable } from 'node:stream';
import type { UploadSessionEntity } from './cas.entities';
import { effectiveState, type UploadState } from './upload-state';

export interface BeginUploadInput {
  readonly expectedDigest: string;
  readonly expectedSizeBytes: number;
  readonly mediaTypeHint?: string | null;
  readonly filenameHint?: string | null;
}

/** An upload session as docs/uploads.md describes it (the controller writes it in snake_case). */
export interface UploadSessionView {
  readonly id: string;
  readonly expectedDigest: string;
  readonly expectedSizeBytes: number;
  readonly state: UploadState;
  readonly expiresAt: Date;
  readonly mediaTypeHint: string | null;
  readonly filenameHint: string | null;
  readonly failureMessage: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface UploadPartView {
  readonly partNumber: number;
  readonly sizeBytes: number;
  readonly etag: string;
}

export interface UploadSessionDetail extends UploadSessionView {
  /** Parts received so far, in part-number order: what a client resumes from. */
  readonly parts: UploadPartView[];
}

export interface BeginUploadResult {
  readonly session: UploadSessionView;
  /** false: the digest was already trusted and the session is `ready` (answer 200, not 201). */
  readonly created: boolean;
}

export interface PutPartInput {
  readonly uploadId: string;
  readonly partNumber: number;
  /** The raw request body, streamed to the store as it arrives. */
  readonly body: Readable;
  /** The Content-Length header, or null when the request had none (411). */
  readonly contentLength: number | null;
  /** The Content-Digest header, if any. */
  readonly contentDigest?: string | null;
}

export interface PutPartResult extends UploadPartView {
  readonly uploadId: string;
}

export interface BlobView {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly createdAt: Date;
}

/** An upload session as the API shows it, with its state as of `now` (expiry applied). */
export function toView(s: UploadSessionEntity, now = new Date()): UploadSessionView {
  return {
    id: s.id,
    expectedDigest: s.expectedDigest,
    expectedSizeBytes: s.expectedSizeBytes,
    state: effectiveState(s.state, s.expiresAt, now),
    expiresAt: s.expiresAt,
    mediaTypeHint: s.mediaTypeHint,
    filenameHint: s.filenameHint,
    failureMessage: s.failureMessage,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
