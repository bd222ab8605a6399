import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: '/expected_digest', description: 'JSON Pointer to the offending input' })
  pointer!: string;

  @ApiProperty({ example: 'must match ^sha256:[0-9a-f]{64}$' })
  detail!: string;
}

/** RFC 9457 problem details, as every error answers. */
export class ProblemDto {
  @ApiProperty({ example: 'urn:imgsrv:problem:validation-failed' })
  type!: string;

  @ApiProperty({ example: 'The request is not valid' })
  title!: string;

  @ApiProperty({ example: 400 })
  status!: number;

  @ApiProperty({ example: '/name: must match ^[a-z0-9][a-z0-9._-]{0,127}$' })
  detail!: string;

  @ApiProperty({
    description: 'The request id, also sent as x-request-id',
    example: '3f0c7d0e-5b4e-4a8e-9d6c-0f2f3a1b2c3d',
  })
  instance!: string;

  @ApiProperty({ description: 'Stable machine-readable code', example: 'VALIDATION_FAILED' })
  code!: string;

  @ApiPropertyOptional({ type: [FieldErrorDto] })
  errors?: FieldErrorDto[];
}
