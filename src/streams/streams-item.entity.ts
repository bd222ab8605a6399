import { Column, Entity, PrimaryColumn } from 'typeorm';

const bigintAsNumber = { to: (v: number) => v, from: (v: string) => Number(v) };

export type ImageType = 'container' | 'virtual-machine';

/** One published, eligible artifact as Incus sees it: written by incus_index, read by the renderer. */
@Entity({ name: 'streams_item' })
export class StreamsItemEntity {
  @PrimaryColumn({ name: 'version_id', type: 'uuid' }) versionId!: string;
  @PrimaryColumn({ name: 'artifact_id', type: 'uuid' }) artifactId!: string;
  @Column({ name: 'product_key', type: 'text' }) productKey!: string;
  @Column({ name: 'image_type', type: 'text' }) imageType!: ImageType;
  @Column({ type: 'text' }) architecture!: string;
  @Column({ type: 'text' }) variant!: string;
  @Column({ name: 'operating_system', type: 'text' }) operatingSystem!: string;
  @Column({ type: 'text' }) release!: string;
  @Column({ name: 'release_title', type: 'text' }) releaseTitle!: string;
  @Column({ type: 'text', nullable: true }) description!: string | null;
  /** The image's own serial, the product version key (null on rows written before it was kept). */
  @Column({ type: 'text', nullable: true }) serial!: string | null;
  @Column({ name: 'combined_sha256', type: 'text' }) combinedSha256!: string;
  @Column({ name: 'metadata_path', type: 'text' }) metadataPath!: string;
  @Column({ name: 'metadata_sha256', type: 'text' }) metadataSha256!: string;
  @Column({ name: 'metadata_size_bytes', type: 'bigint', transformer: bigintAsNumber })
  metadataSizeBytes!: number;
  @Column({ name: 'root_ftype', type: 'text' }) rootFtype!: 'squashfs' | 'disk-kvm.img';
  @Column({ name: 'root_path', type: 'text' }) rootPath!: string;
  @Column({ name: 'root_sha256', type: 'text' }) rootSha256!: string;
  @Column({ name: 'root_size_bytes', type: 'bigint', transformer: bigintAsNumber })
  rootSizeBytes!: number;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
}

export type StreamsItemInput = Omit<StreamsItemEntity, 'versionId' | 'createdAt'>;

export const STREAMS_ENTITIES = [StreamsItemEntity];
