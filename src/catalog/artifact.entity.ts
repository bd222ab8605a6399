import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type ArtifactFormat = 'raw' | 'raw.gz' | 'qcow2' | 'squashfs';
export const ARTIFACT_FORMATS: readonly ArtifactFormat[] = ['raw', 'raw.gz', 'qcow2', 'squashfs'];

const bigintAsNumber = {
  to: (v: number) => v,
  from: (v: string | null) => (v === null ? null : Number(v)),
};

@Entity({ name: 'artifact' })
export class ArtifactEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'version_id', type: 'uuid' })
  versionId!: string;

  @Column({ type: 'text' })
  variant!: string;

  @Column({ name: 'operating_system', type: 'text' })
  operatingSystem!: string;

  @Column({ type: 'text' })
  architecture!: string;

  @Column({ type: 'text' })
  format!: ArtifactFormat;

  @Column({ name: 'primary_blob_digest', type: 'text' })
  primaryBlobDigest!: string;

  @Column({ name: 'primary_blob_size_bytes', type: 'bigint', transformer: bigintAsNumber })
  primaryBlobSizeBytes!: number;

  @Column({ name: 'primary_media_type', type: 'text' })
  primaryMediaType!: string;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
}

@Entity({ name: 'attachment' })
export class AttachmentEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'artifact_id', type: 'uuid' })
  artifactId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'media_type', type: 'text' })
  mediaType!: string;

  @Column({ name: 'blob_digest', type: 'text' })
  blobDigest!: string;

  @Column({ name: 'blob_size_bytes', type: 'bigint', transformer: bigintAsNumber })
  blobSizeBytes!: number;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
}
