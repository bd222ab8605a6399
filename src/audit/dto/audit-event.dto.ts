import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { PaginationQueryDto } from '../../common/http/pagination.query.dto';

export class AuditEventQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ example: 'api_token.revoke' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  action?: string;

  @ApiPropertyOptional({ example: 'debian-12' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  image?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID('all')
  principal_id?: string;
}

export class AuditEventResponseDto {
  @ApiProperty({ example: '42', description: 'Increasing with time' })
  id!: string;

  @ApiProperty({ format: 'date-time' })
  occurred_at!: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  principal_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  principal_name!: string | null;

  @ApiProperty({ example: 'api_token.revoke' })
  action!: string;

  @ApiProperty({ example: 'api_token' })
  target_type!: string;

  @ApiProperty({ type: String, nullable: true })
  target_id!: string | null;

  @ApiProperty({ type: String, nullable: true })
  image_name!: string | null;

  @ApiProperty({ type: String, nullable: true })
  request_id!: string | null;

  @ApiProperty({ type: 'object', additionalProperties: true })
  detail!: Record<string, unknown>;
}

export class AuditEventListResponseDto {
  @ApiProperty({ type: [AuditEventResponseDto] })
  audit_events!: AuditEventResponseDto[];

  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}
