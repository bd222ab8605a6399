import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import type { UploadSessionDetail, UploadSessionView } from '../upload.types';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export class UploadCreateDto {
  @ApiProperty({
    pattern: DIGEST.source,
    description: 'What the server must find when it hashes the bytes',
  })
  @IsString()
  @Matches(DIGEST, { message: `must match ${DIGEST.source}` })
  expected_digest!: string;

  @ApiProperty({ minimum: 0 })
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  expected_size_bytes!: number;

  @ApiPropertyOptional({ maxLength: 255, example: 'application/x-qemu-disk' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  media_type_hint?: string;

  @ApiPropertyOptional({ maxLength: 255, example: 'disk.qcow2' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  filename_hint?: string;
}

export class CompletePartDto {
  @ApiProperty({ minimum: 1, maximum: 10000 })
  @IsInt()
  @Min(1)
  @Max(10000)
  number!: number;

  @ApiProperty({ description: 'The etag the part upload answered' })
  @IsString()
  @Length(1, 200)
  etag!: string;

  @ApiProperty({ minimum: 0 })
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  size_bytes!: number;
}

export class UploadCompleteDto {
  @ApiProperty({ type: [CompletePartDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10000)
  @ValidateNested({ each: true })
  @Type(() => CompletePartDto)
  parts!: CompletePartDto[];
}

export class UploadParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  upload_id!: string;
}

export class UploadPartParamsDto extends UploadParamsDto {
  @ApiProperty({ minimum: 1, maximum: 10000 })
  @Matches(/^\d{1,9}$/, { message: 'must be a part number' })
  part_number!: string;
}

export class UploadPartResponseDto {
  @ApiProperty({ format: 'uuid' }) upload_id!: string;
  @ApiProperty() part_number!: number;
  @ApiProperty() etag!: string;
  @ApiProperty() size_bytes!: number;
}

export class UploadPartViewDto {
  @ApiProperty() part_number!: number;
  @ApiProperty() size_bytes!: number;
  @ApiProperty() etag!: string;
}

export class UploadSessionResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() expected_digest!: string;
  @ApiProperty() expected_size_bytes!: number;
  @ApiProperty({
    enum: [
      'created',
      'uploading',
      'completed',
      'verifying',
      'ready',
      'failed',
      'aborted',
      'expired',
    ],
  })
  state!: string;
  @ApiProperty({ format: 'date-time' }) expires_at!: string;
  @ApiProperty({ type: String, nullable: true }) media_type_hint!: string | null;
  @ApiProperty({ type: String, nullable: true }) filename_hint!: string | null;
  @ApiProperty({ type: String, nullable: true }) failure_message!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiPropertyOptional({
    type: [UploadPartViewDto],
    description: 'Parts received so far (GET only), for resuming',
  })
  parts?: UploadPartViewDto[];

  static of(s: UploadSessionView | UploadSessionDetail): UploadSessionResponseDto {
    const view: UploadSessionResponseDto = {
      id: s.id,
      expected_digest: s.expectedDigest,
      expected_size_bytes: s.expectedSizeBytes,
      state: s.state,
      expires_at: s.expiresAt.toISOString(),
      media_type_hint: s.mediaTypeHint,
      filename_hint: s.filenameHint,
      failure_message: s.failureMessage,
      created_at: s.createdAt.toISOString(),
      updated_at: s.updatedAt.toISOString(),
    };
    if ('parts' in s) {
      view.parts = s.parts.map((p) => ({
        part_number: p.partNumber,
        size_bytes: p.sizeBytes,
        etag: p.etag,
      }));
    }
    return view;
  }
}
