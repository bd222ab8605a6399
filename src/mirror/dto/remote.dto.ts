import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import type { RemoteRow, SyncItemRow, SyncRow } from '../mirror.repository';
import { SYNC_STATES } from '../mirror.repository';

export const REMOTE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class RemoteParamsDto {
  @ApiProperty({ pattern: REMOTE_NAME.source, example: 'linuxcontainers' })
  @Matches(REMOTE_NAME, { message: `name must match ${REMOTE_NAME.source}` })
  name!: string;
}

export class SyncParamsDto extends RemoteParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  sync_id!: string;
}

export class RemoteFiltersDto {
  @ApiPropertyOptional({ example: 'Debian', description: 'The upstream product os (any case)' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  os?: string;

  @ApiPropertyOptional({ example: 'bookworm' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  release?: string;

  @ApiPropertyOptional({ example: 'amd64', description: '`x86_64` and `amd64` are the same' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  architecture?: string;

  @ApiPropertyOptional({ example: 'default' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  variant?: string;

  @ApiPropertyOptional({ enum: ['container', 'virtual-machine', 'vm'] })
  @IsOptional()
  @IsIn(['container', 'virtual-machine', 'vm'])
  type?: string;

  @ApiPropertyOptional({
    example: 'debian/12*',
    description: 'A glob over the product’s upstream aliases: `*` any run of characters, `?` one',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  alias?: string;
}

export class RemoteCreateDto extends RemoteParamsDto {
  @ApiProperty({
    example: 'https://images.linuxcontainers.org',
    maxLength: 2048,
    description:
      'The root of the upstream Simple Streams tree (it holds streams/v1/index.json), http or https, without credentials, query or fragment',
  })
  @IsString()
  @MaxLength(2048)
  url!: string;

  @ApiPropertyOptional({
    description:
      'A PEM CA certificate trusted for this remote besides the system’s (a private upstream)',
    maxLength: 65536,
  })
  @IsOptional()
  @IsString()
  @MaxLength(65536)
  ca_pem?: string;

  @ApiPropertyOptional({ maxLength: 256, description: 'HTTP Basic user name for the upstream' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  username?: string;

  @ApiPropertyOptional({
    maxLength: 1024,
    description:
      'HTTP Basic password, kept sealed (AES-256-GCM) and never answered or logged. On PUT, leaving it out keeps the stored one (unless the username changes); null removes it',
    type: String,
    nullable: true,
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  password?: string | null;

  @ApiPropertyOptional({ type: RemoteFiltersDto, description: 'Every present key must match' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RemoteFiltersDto)
  filters?: RemoteFiltersDto;

  @ApiPropertyOptional({
    default: '{os}-{release}',
    maxLength: 128,
    description:
      'The imgsrv image each upstream product goes into: placeholders {os}, {release}, {variant}, {arch}, {remote}; lower-cased, other characters become `-`',
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  image_name_template?: string;

  @ApiPropertyOptional({
    example: '0 3 * * *',
    description: 'A five-field cron expression (UTC) for scheduled syncs; absent: by hand only',
    type: String,
    nullable: true,
  })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  schedule?: string | null;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 1000,
    description:
      'Mirror only the newest N versions of each upstream product, and give each mirrored image a retention policy keeping N',
    type: Number,
    nullable: true,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  keep_latest?: number | null;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 16,
    default: 2,
    description: 'Files fetched at once',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(16)
  concurrency?: number;

  @ApiPropertyOptional({
    minimum: 1024,
    description: 'Bytes per second this remote’s transfers share at most; absent: no limit',
    type: Number,
    nullable: true,
  })
  @IsOptional()
  @IsInt()
  @Min(1024)
  bandwidth_limit_bytes_per_second?: number | null;
}

export class RemotePutDto extends RemoteCreateDto {}

export class RemoteFiltersResponseDto extends RemoteFiltersDto {}

export class RemoteResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() url!: string;
  @ApiProperty({ type: String, nullable: true }) ca_pem!: string | null;
  @ApiProperty({ type: String, nullable: true }) username!: string | null;
  @ApiProperty({ description: 'Whether a password is stored (it is never answered)' })
  has_password!: boolean;
  @ApiProperty({ type: RemoteFiltersResponseDto }) filters!: RemoteFiltersResponseDto;
  @ApiProperty() image_name_template!: string;
  @ApiProperty({ type: String, nullable: true }) schedule!: string | null;
  @ApiProperty({ type: Number, nullable: true }) keep_latest!: number | null;
  @ApiProperty({
    type: [String],
    example: ['debian-*'],
    description:
      'The images a sync may make versions of: the image patterns of the remote.manage grants of whoever created or last replaced the remote; other versions are skipped',
  })
  image_scope!: string[];
  @ApiProperty() concurrency!: number;
  @ApiProperty({ type: Number, nullable: true }) bandwidth_limit_bytes_per_second!: number | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) next_sync_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_success_at!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) created_by!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static of(r: RemoteRow): RemoteResponseDto {
    return {
      id: r.id,
      name: r.name,
      url: r.url,
      ca_pem: r.caPem,
      username: r.username,
      has_password: r.passwordSealed !== null,
      filters: { ...r.filters },
      image_name_template: r.imageNameTemplate,
      schedule: r.schedule,
      keep_latest: r.keepLatest,
      image_scope: [...r.imageScope],
      concurrency: r.concurrency,
      bandwidth_limit_bytes_per_second: r.bandwidthLimitBps,
      next_sync_at: r.nextSyncAt?.toISOString() ?? null,
      last_success_at: r.lastSuccessAt?.toISOString() ?? null,
      created_by: r.createdBy,
      created_at: r.createdAt.toISOString(),
      updated_at: r.updatedAt.toISOString(),
    };
  }
}

export class RemoteListResponseDto {
  @ApiProperty({ type: [RemoteResponseDto] }) remotes!: RemoteResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}

export class SyncResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() remote!: string;
  @ApiProperty({ enum: SYNC_STATES }) state!: string;
  @ApiProperty({ enum: ['manual', 'schedule'] }) trigger!: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) requested_by!: string | null;
  @ApiProperty({ description: 'Upstream files and versions this sync handles' })
  items_total!: number;
  @ApiProperty() items_done!: number;
  @ApiProperty() items_failed!: number;
  @ApiProperty({ description: 'The size of every file the selection needs' }) bytes_total!: number;
  @ApiProperty({ description: 'Bytes fetched from the upstream so far' }) bytes_fetched!: number;
  @ApiProperty() versions_published!: number;
  @ApiProperty() aliases_moved!: number;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty({ description: 'How many times a worker took it (more than 1: taken over)' })
  attempt!: number;
  @ApiProperty() cancel_requested!: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) heartbeat_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;

  static of(s: SyncRow): SyncResponseDto {
    return {
      id: s.id,
      remote: s.remoteName,
      state: s.state,
      trigger: s.trigger,
      requested_by: s.requestedBy,
      items_total: s.itemsTotal,
      items_done: s.itemsDone,
      items_failed: s.itemsFailed,
      bytes_total: s.bytesTotal,
      bytes_fetched: s.bytesFetched,
      versions_published: s.versionsPublished,
      aliases_moved: s.aliasesMoved,
      error: s.error,
      attempt: s.attempt,
      cancel_requested: s.cancelRequested,
      created_at: s.createdAt.toISOString(),
      started_at: s.startedAt?.toISOString() ?? null,
      heartbeat_at: s.heartbeatAt?.toISOString() ?? null,
      finished_at: s.finishedAt?.toISOString() ?? null,
    };
  }
}

export class SyncItemResponseDto {
  @ApiProperty({ enum: ['file', 'version'] }) kind!: string;
  @ApiProperty({ description: 'The upstream path of a file; image:version of a version' })
  key!: string;
  @ApiProperty({ type: String, nullable: true }) image!: string | null;
  @ApiProperty({ type: String, nullable: true }) version!: string | null;
  @ApiProperty({ type: String, nullable: true }) digest!: string | null;
  @ApiProperty({ type: Number, nullable: true }) size_bytes!: number | null;
  @ApiProperty({
    enum: ['pending', 'present', 'fetched', 'published', 'unchanged', 'failed', 'skipped'],
    description:
      'present: the store had the file; fetched: copied now; published / unchanged: the version; skipped: a version whose file failed',
  })
  outcome!: string;
  @ApiProperty() bytes_fetched!: number;
  @ApiProperty() attempts!: number;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static of(i: SyncItemRow): SyncItemResponseDto {
    return {
      kind: i.kind,
      key: i.key,
      image: i.image,
      version: i.version,
      digest: i.digest,
      size_bytes: i.sizeBytes,
      outcome: i.outcome,
      bytes_fetched: i.bytesFetched,
      attempts: i.attempts,
      error: i.error,
      updated_at: i.updatedAt.toISOString(),
    };
  }
}

export class SyncDetailResponseDto extends SyncResponseDto {
  @ApiProperty({ type: [SyncItemResponseDto] }) items!: SyncItemResponseDto[];
}

export class SyncListResponseDto {
  @ApiProperty({ type: [SyncResponseDto] }) syncs!: SyncResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}
