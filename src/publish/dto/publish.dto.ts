import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { PaginationQueryDto } from '../../common/http/pagination.query.dto';
import type { JobView } from '../publish.service';

const iso = (d: Date | null) => d?.toISOString() ?? null;

export class PublishStepResponseDto {
  @ApiProperty({ enum: ['validate_catalog', 'incus_index', 'finalize_publish'] }) name!: string;
  @ApiProperty({ example: 1 }) sequence!: number;
  @ApiProperty({ enum: ['queued', 'running', 'succeeded', 'failed', 'skipped'] }) state!: string;
  @ApiProperty() attempt_count!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why the last attempt failed' })
  failure_message!: string | null;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: 'What the step reported',
  })
  result!: Record<string, unknown> | null;
}

export class PublishJobResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) version_id!: string;
  @ApiProperty({ example: 'debian-12' }) image_name!: string;
  @ApiProperty({ example: '20261123' }) version!: string;
  @ApiProperty({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }) state!: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) requested_by!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;
  @ApiProperty({ type: String, nullable: true }) failure_message!: string | null;
  @ApiProperty({ type: [PublishStepResponseDto] }) steps!: PublishStepResponseDto[];

  static of(v: JobView): PublishJobResponseDto {
    return {
      id: v.job.id,
      version_id: v.job.versionId,
      image_name: v.imageName,
      version: v.version,
      state: v.job.state,
      requested_by: v.job.requestedBy,
      created_at: v.job.createdAt.toISOString(),
      started_at: iso(v.job.startedAt),
      finished_at: iso(v.job.finishedAt),
      failure_message: v.job.failureMessage,
      steps: v.steps.map((s) => ({
        name: s.name,
        sequence: s.sequence,
        state: s.state,
        attempt_count: s.attemptCount,
        started_at: iso(s.startedAt),
        finished_at: iso(s.finishedAt),
        failure_message: s.failureMessage,
        result: s.result,
      })),
    };
  }
}

export class PublishJobListResponseDto {
  @ApiProperty({ type: [PublishJobResponseDto] }) publish_jobs!: PublishJobResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}

export class PublishJobListQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] })
  @IsOptional()
  @IsIn(['queued', 'running', 'succeeded', 'failed', 'cancelled'])
  state?: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
}

export class PublishJobParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  job_id!: string;
}
