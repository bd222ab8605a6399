import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ListedPart } from './upload-parts';
import type { UploadState } from './upload-state';

const bigintAsNumber = {
  to: (v: number | null) => v,
  from: (v: string | null) => (v === null ? null : Number(v)),
};

/** A part list frozen by complete, as stored (snake_case JSON, like the request). */
export interface StoredPart {
  readonly number: number;
  readonly etag: string;
  readonly size_bytes: number;
}

export function toStoredParts(parts: readonly ListedPart[]): StoredPart[] {
  return parts.map((p) => ({ number: p.number, etag: p.etag, size_bytes: p.sizeBytes }));
}

export function fromStoredParts(parts: readonly StoredPart[]): ListedPart[] {
  return parts.map((p) => ({ number: p.number, etag: p.etag, sizeBytes: p.size_bytes }));
}

@Entity({ name: 'upload_session' })
export class UploadSessionEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'expected_digest', type: 'text' })
  expectedDigest!: string;

  @Column({ name: 'expected_size_bytes', type: 'bigint', transformer: bigintAsNumber })
  expectedSizeBytes!: number;

  @Column({ type: 'text' })
  state!: UploadState;

  @Column({ name: 'media_type_hint', type: 'text', nullable: true })
  mediaTypeHint!: string | null;

  @Column({ name: 'filename_hint', type: 'text', nullable: true })
  filenameHint!: string | null;

  @Column({ name: 'failure_code', type: 'text', nullable: true })
  failureCode!: string | null;

  @Column({ name: 'failure_message', type: 'text', nullable: true })
  failureMessage!: string | null;

  @Column({ name: 'staging_token', type: 'text', nullable: true })
  stagingToken!: string | null;

  @Column({ name: 'staging_created', type: 'boolean' })
  stagingCreated!: boolean;

  @Column({ name: 'staging_cleared_at', type: 'timestamptz', nullable: true })
  stagingClearedAt!: Date | null;

  @Column({ name: 'completed_parts', type: 'jsonb', nullable: true })
  completedParts!: StoredPart[] | null;

  @Column({ name: 'assembled_at', type: 'timestamptz', nullable: true })
  assembledAt!: Date | null;

  @Column({ name: 'verify_owner', type: 'text', nullable: true })
  verifyOwner!: string | null;

  @Column({ name: 'verify_attempt', type: 'integer' })
  verifyAttempt!: number;

  @Column({ name: 'verify_lease_until', type: 'timestamptz', nullable: true })
  verifyLeaseUntil!: Date | null;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ name: 'ready_at', type: 'timestamptz', nullable: true })
  readyAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt!: Date;
}

@Entity({ name: 'upload_part' })
export class UploadPartEntity {
  @PrimaryColumn({ name: 'upload_id', type: 'uuid' })
  uploadId!: string;

  @PrimaryColumn({ name: 'part_number', type: 'integer' })
  partNumber!: number;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintAsNumber })
  sizeBytes!: number;

  @Column({ type: 'text' })
  etag!: string;

  @Column({ name: 'hash_state', type: 'bytea', nullable: true })
  hashState!: Buffer | null;

  @Column({ name: 'chain_prev_part', type: 'integer', nullable: true })
  chainPrevPart!: number | null;

  @Column({ name: 'chain_prev_etag', type: 'text', nullable: true })
  chainPrevEtag!: string | null;

  /** Bytes the running hash covers through this part (where the next part starts). */
  @Column({ name: 'chain_end', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  chainEnd!: number | null;

  @Column({ name: 'received_at', type: 'timestamptz', insert: false, update: false })
  receivedAt!: Date;
}

/** A trusted blob (append-only: see the cas_blob_guard trigger). */
@Entity({ name: 'cas_blob' })
export class CasBlobEntity {
  @PrimaryColumn({ type: 'text' })
  digest!: string;

  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintAsNumber })
  sizeBytes!: number;

  @Column({ name: 'object_key', type: 'text' })
  objectKey!: string;

  @Column({ name: 'verified_upload_id', type: 'uuid', nullable: true })
  verifiedUploadId!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
}

/** The cas module's TypeORM entities (listed in database/entities.ts). */
export const CAS_ENTITIES: (new () => object)[] = [
  UploadSessionEntity,
  UploadPartEntity,
  CasBlobEntity,
];
