import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';
import type { RetentionPolicy } from '../retention.repository';

export class RetentionPutDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 100000,
    nullable: true,
    description: 'Keep the newest N published versions',
  })
  @ValidateIf((o: RetentionPutDto) => o.keep_latest !== null && o.keep_latest !== undefined)
  @IsInt()
  @Min(1)
  @Max(100000)
  keep_latest?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 36500,
    nullable: true,
    description: 'Keep the versions published within the last N days',
  })
  @ValidateIf((o: RetentionPutDto) => o.keep_days !== null && o.keep_days !== undefined)
  @IsInt()
  @Min(1)
  @Max(36500)
  keep_days?: number | null;

  @ApiPropertyOptional({
    default: true,
    description:
      'Keep every version an alias points at; when false, retention moves such aliases to the ' +
      'newest published version before withdrawing',
  })
  @IsOptional()
  @IsBoolean()
  keep_aliased?: boolean;
}

export class RetentionResponseDto {
  @ApiProperty({ type: 'integer', nullable: true }) keep_latest!: number | null;
  @ApiProperty({ type: 'integer', nullable: true }) keep_days!: number | null;
  @ApiProperty() keep_aliased!: boolean;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the workers last applied the whole policy',
  })
  applied_at!: string | null;

  static of(p: RetentionPolicy): RetentionResponseDto {
    return {
      keep_latest: p.keepLatest,
      keep_days: p.keepDays,
      keep_aliased: p.keepAliased,
      updated_at: p.updatedAt.toISOString(),
      applied_at: p.appliedAt?.toISOString() ?? null,
    };
  }
}

export class RetentionEnvelopeDto {
  @ApiProperty({
    type: RetentionResponseDto,
    nullable: true,
    description: 'The policy; null when the image has none',
  })
  retention!: RetentionResponseDto | null;
}

export class RetentionPreviewDto {
  @ApiProperty({
    type: [String],
    description: 'The versions applying the policy would withdraw now, oldest first',
  })
  would_withdraw!: string[];
}
