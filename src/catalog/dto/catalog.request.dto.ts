import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { VERSION_STATES, type VersionState } from '../version-state';
import { PaginationQueryDto } from '../../common/http/pagination.query.dto';
import { ARTIFACT_FORMATS } from '../artifact.entity';

export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._+:-]{0,127}$/;
export const SHORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
export const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** Sizes beyond 2^53 cannot be exact in JSON numbers; no image is that large. */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

const msg = (pattern: RegExp) => ({ message: `must match ${pattern.source}` });

export class ImageCreateDto {
  @ApiProperty({ pattern: IMAGE_NAME.source, example: 'debian-12' })
  @IsString()
  @Matches(IMAGE_NAME, msg(IMAGE_NAME))
  name!: string;

  @ApiPropertyOptional({ maxLength: 200, example: 'Debian 12 (bookworm)' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  display_name?: string;

  @ApiPropertyOptional({ maxLength: 10000 })
  @IsOptional()
  @IsString()
  @Length(0, 10000)
  description?: string;
}

export class ImageUpdateDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: 200,
    description: 'null clears it',
  })
  @ValidateIf((_, v) => v !== null && v !== undefined)
  @IsString()
  @Length(1, 200)
  display_name?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: 10000,
    description: 'null clears it',
  })
  @ValidateIf((_, v) => v !== null && v !== undefined)
  @IsString()
  @Length(0, 10000)
  description?: string | null;
}

export class VersionCreateDto {
  @ApiProperty({ pattern: VERSION_NAME.source, example: '20261123' })
  @IsString()
  @Matches(VERSION_NAME, msg(VERSION_NAME))
  version!: string;
}

export class VersionListQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: VERSION_STATES })
  @IsOptional()
  @IsIn(VERSION_STATES)
  state?: VersionState;
}

export class ArtifactCreateDto {
  @ApiPropertyOptional({ pattern: SHORT_NAME.source, default: 'default', example: 'cloud' })
  @IsOptional()
  @IsString()
  @Matches(SHORT_NAME, msg(SHORT_NAME))
  variant?: string;

  @ApiProperty({ pattern: SHORT_NAME.source, example: 'debian' })
  @IsString()
  @Matches(SHORT_NAME, msg(SHORT_NAME))
  operating_system!: string;

  @ApiProperty({
    pattern: SHORT_NAME.source,
    example: 'amd64',
    description: 'x86_64 and aarch64 are stored as amd64 and arm64',
  })
  @IsString()
  @Matches(SHORT_NAME, msg(SHORT_NAME))
  architecture!: string;

  @ApiProperty({ enum: ARTIFACT_FORMATS })
  @IsIn(ARTIFACT_FORMATS)
  format!: (typeof ARTIFACT_FORMATS)[number];

  @ApiProperty({ pattern: DIGEST.source })
  @IsString()
  @Matches(DIGEST, msg(DIGEST))
  primary_blob_digest!: string;

  @ApiProperty({ minimum: 0, example: 734003200 })
  @IsInt()
  @Min(0)
  @Max(MAX_SIZE)
  primary_blob_size_bytes!: number;

  @ApiProperty({ pattern: MEDIA_TYPE.source, example: 'application/x-qemu-disk' })
  @IsString()
  @Matches(MEDIA_TYPE, msg(MEDIA_TYPE))
  primary_media_type!: string;
}

export class AttachmentCreateDto {
  @ApiProperty({ pattern: SHORT_NAME.source, example: 'incus.tar.xz' })
  @IsString()
  @Matches(SHORT_NAME, msg(SHORT_NAME))
  name!: string;

  @ApiProperty({ pattern: MEDIA_TYPE.source, example: 'application/x-xz' })
  @IsString()
  @Matches(MEDIA_TYPE, msg(MEDIA_TYPE))
  media_type!: string;

  @ApiProperty({ pattern: DIGEST.source })
  @IsString()
  @Matches(DIGEST, msg(DIGEST))
  blob_digest!: string;

  @ApiProperty({ minimum: 0 })
  @IsInt()
  @Min(0)
  @Max(MAX_SIZE)
  blob_size_bytes!: number;
}

export class ImageParamsDto {
  @ApiProperty({ pattern: IMAGE_NAME.source })
  @Matches(IMAGE_NAME, msg(IMAGE_NAME))
  name!: string;
}

export class VersionParamsDto extends ImageParamsDto {
  @ApiProperty({ pattern: VERSION_NAME.source })
  @Matches(VERSION_NAME, msg(VERSION_NAME))
  version!: string;
}

export class RefParamsDto extends ImageParamsDto {
  @ApiProperty({ pattern: VERSION_NAME.source, description: 'A version, else an alias' })
  @Matches(VERSION_NAME, msg(VERSION_NAME))
  ref!: string;
}

export class ArtifactParamsDto extends VersionParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  artifact_id!: string;
}

export class AttachmentParamsDto extends ArtifactParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  attachment_id!: string;
}

const FILENAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

export class ArtifactFileParamsDto extends ArtifactParamsDto {
  @ApiProperty({
    description: 'The canonical file name',
    example: 'debian-12-20261123-amd64.qcow2',
  })
  @Matches(FILENAME, msg(FILENAME))
  filename!: string;
}

export class AttachmentFileParamsDto extends AttachmentParamsDto {
  @ApiProperty({ description: 'The attachment name', example: 'incus.tar.xz' })
  @Matches(FILENAME, msg(FILENAME))
  filename!: string;
}
