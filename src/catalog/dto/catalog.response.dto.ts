import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ArtifactEntity, AttachmentEntity } from '../artifact.entity';
import type { ImageVersionEntity } from '../image-version.entity';
import { VERSION_STATES } from '../version-state';
import type { ImageEntity } from '../image.entity';
import type { ImageStorage } from '../image.repository';
import type { Manifest } from '../catalog.service';

export class ImageStorageDto {
  @ApiProperty({
    description:
      'Bytes the versions of the image cite (not purged ones), each blob once, over the ' +
      'versions the caller may see: all of them when the image is in its content.read scope, ' +
      'else (the image seen because public reads are on) its published versions only.',
  })
  bytes!: number;
  @ApiProperty({
    description:
      'Of those, the bytes no other image cites, counting of other images only the versions ' +
      'the caller may see (all versions of images in its scope; with public reads, the ' +
      'published versions of others)',
  })
  bytes_unique!: number;
}

export class ImageResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'debian-12' }) name!: string;
  @ApiProperty({ type: String, nullable: true }) display_name!: string | null;
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) created_by!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiPropertyOptional({
    type: ImageStorageDto,
    description: 'On the image endpoints (not inside a manifest)',
  })
  storage?: ImageStorageDto;

  static of(i: ImageEntity, storage?: ImageStorage): ImageResponseDto {
    return {
      id: i.id,
      name: i.name,
      display_name: i.displayName,
      description: i.description,
      created_by: i.createdBy,
      created_at: i.createdAt.toISOString(),
      updated_at: i.updatedAt.toISOString(),
      ...(storage && { storage: { bytes: storage.bytes, bytes_unique: storage.bytesUnique } }),
    };
  }
}

export class StorageResponseDto {
  @ApiProperty({ description: 'Bytes the images the caller may read cite, each blob once' })
  bytes!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: 'Per image the caller may read, the bytes no other image cites',
  })
  bytes_unique_by_image!: Record<string, number>;
}

export class ImageListResponseDto {
  @ApiProperty({ type: [ImageResponseDto] }) images!: ImageResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}

export class WithdrawalResponseDto {
  @ApiProperty({ example: 'CVE-2026-12345 in openssl' }) reason!: string;
  @ApiProperty({ description: 'Downloads stopped at once (410) instead of after the grace' })
  immediate!: boolean;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) by!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    description: 'When the version stops citing its blobs and its downloads answer 410',
  })
  purge_after!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) purged_at!: string | null;

  static of(v: ImageVersionEntity): WithdrawalResponseDto {
    return {
      reason: v.withdrawnReason ?? '',
      immediate: v.withdrawnImmediate,
      by: v.withdrawnBy,
      purge_after: (v.purgeAfter as Date).toISOString(),
      purged_at: v.purgedAt?.toISOString() ?? null,
    };
  }
}

export class VersionResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) image_id!: string;
  @ApiProperty({ example: '20261123' }) version!: string;
  @ApiProperty({ enum: VERSION_STATES }) state!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) published_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) withdrawn_at!: string | null;
  @ApiProperty({
    type: WithdrawalResponseDto,
    nullable: true,
    description: 'Why, by whom and how the version was withdrawn; null unless it is withdrawn',
  })
  withdrawal!: WithdrawalResponseDto | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) created_by!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) published_by!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static of(v: ImageVersionEntity): VersionResponseDto {
    return {
      id: v.id,
      image_id: v.imageId,
      version: v.version,
      state: v.state,
      published_at: v.publishedAt?.toISOString() ?? null,
      withdrawn_at: v.withdrawnAt?.toISOString() ?? null,
      withdrawal: v.withdrawnAt ? WithdrawalResponseDto.of(v) : null,
      created_by: v.createdBy,
      published_by: v.publishedBy,
      created_at: v.createdAt.toISOString(),
      updated_at: v.updatedAt.toISOString(),
    };
  }
}

export class VersionListResponseDto {
  @ApiProperty({ type: [VersionResponseDto] }) versions!: VersionResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}

export class ArtifactResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) version_id!: string;
  @ApiProperty({ example: 'default' }) variant!: string;
  @ApiProperty({ example: 'debian' }) operating_system!: string;
  @ApiProperty({ example: 'amd64' }) architecture!: string;
  @ApiProperty({ enum: ['raw', 'raw.gz', 'qcow2', 'squashfs'] }) format!: string;
  @ApiProperty({ example: 'sha256:…' }) primary_blob_digest!: string;
  @ApiProperty() primary_blob_size_bytes!: number;
  @ApiProperty({ example: 'application/x-qemu-disk' }) primary_media_type!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  static of(a: ArtifactEntity): ArtifactResponseDto {
    return {
      id: a.id,
      version_id: a.versionId,
      variant: a.variant,
      operating_system: a.operatingSystem,
      architecture: a.architecture,
      format: a.format,
      primary_blob_digest: a.primaryBlobDigest,
      primary_blob_size_bytes: a.primaryBlobSizeBytes,
      primary_media_type: a.primaryMediaType,
      created_at: a.createdAt.toISOString(),
    };
  }
}

export class ArtifactListResponseDto {
  @ApiProperty({ type: [ArtifactResponseDto] }) artifacts!: ArtifactResponseDto[];
}

export class AttachmentResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) artifact_id!: string;
  @ApiProperty({ example: 'incus.tar.xz' }) name!: string;
  @ApiProperty({ example: 'application/x-xz' }) media_type!: string;
  @ApiProperty() blob_digest!: string;
  @ApiProperty() blob_size_bytes!: number;
  @ApiProperty({ format: 'date-time' }) created_at!: string;

  static of(a: AttachmentEntity): AttachmentResponseDto {
    return {
      id: a.id,
      artifact_id: a.artifactId,
      name: a.name,
      media_type: a.mediaType,
      blob_digest: a.blobDigest,
      blob_size_bytes: a.blobSizeBytes,
      created_at: a.createdAt.toISOString(),
    };
  }
}

export class ArtifactWithAttachmentsDto {
  @ApiProperty({ type: ArtifactResponseDto }) artifact!: ArtifactResponseDto;
  @ApiProperty({ type: [AttachmentResponseDto] }) attachments!: AttachmentResponseDto[];

  static of(artifact: ArtifactEntity, attachments: AttachmentEntity[]): ArtifactWithAttachmentsDto {
    return {
      artifact: ArtifactResponseDto.of(artifact),
      attachments: attachments.map((a) => AttachmentResponseDto.of(a)),
    };
  }
}

export class ManifestResponseDto {
  @ApiProperty({ type: ImageResponseDto }) image!: ImageResponseDto;
  @ApiProperty({ type: VersionResponseDto }) version!: VersionResponseDto;
  @ApiProperty({ type: [ArtifactWithAttachmentsDto] }) artifacts!: ArtifactWithAttachmentsDto[];

  static of(m: Manifest): ManifestResponseDto {
    return {
      image: ImageResponseDto.of(m.image),
      version: VersionResponseDto.of(m.version),
      artifacts: m.artifacts.map((a) => ArtifactWithAttachmentsDto.of(a.artifact, a.attachments)),
    };
  }
}
