import { ApiProperty } from '@nestjs/swagger';

export class HealthResponseDto {
  @ApiProperty({ example: 'ok' })
  status!: 'ok';
}

export class ReadinessResponseDto {
  @ApiProperty({ example: 'ok' })
  status!: 'ok';

  @ApiProperty({
    example: { database: 'ok', redis: 'ok', blob_store: 'ok' },
    description: 'Each dependency and its state',
  })
  checks!: Record<string, 'ok' | 'fail'>;
}
