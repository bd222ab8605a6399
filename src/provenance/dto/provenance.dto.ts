import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

const MAX_INDEX = Number.MAX_SAFE_INTEGER;

export class InclusionProofQueryDto {
  @ApiProperty({ minimum: 0, description: 'The entry’s log index' })
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_INDEX)
  index!: number;

  @ApiPropertyOptional({
    minimum: 1,
    description: 'The tree size to prove against; the latest by default',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_INDEX)
  tree_size?: number;
}

export class ConsistencyProofQueryDto {
  @ApiProperty({ minimum: 0, description: 'The older tree size' })
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_INDEX)
  from!: number;

  @ApiPropertyOptional({ minimum: 0, description: 'The newer tree size; the latest by default' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_INDEX)
  to?: number;
}

export class ProvenanceKeyDto {
  @ApiProperty({ description: 'Hex SHA-256 of the public key’s SPKI DER (the DSSE keyid)' })
  key_id!: string;
  @ApiProperty({ enum: ['ed25519'] }) algorithm!: 'ed25519';
  @ApiProperty() public_key_pem!: string;
  @ApiProperty({ description: 'Signs new records and checkpoints (false once retired)' })
  active!: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) retired_at!: string | null;
}

export class ProvenanceKeysDto {
  @ApiProperty({ description: 'The checkpoint origin, also the name its signatures carry' })
  log_origin!: string;
  @ApiProperty({ type: [ProvenanceKeyDto] }) keys!: ProvenanceKeyDto[];
}

export class InclusionProofDto {
  @ApiProperty() log_index!: number;
  @ApiProperty() tree_size!: number;
  @ApiProperty({ description: 'The entry’s leaf hash (base64)' }) leaf_hash!: string;
  @ApiProperty({ type: [String], description: 'RFC 6962 audit path, base64 hashes' })
  hashes!: string[];
  @ApiProperty({ description: 'The signed checkpoint of tree_size' }) checkpoint!: string;
}

export class ConsistencyProofDto {
  @ApiProperty() from!: number;
  @ApiProperty() to!: number;
  @ApiProperty({ type: [String], description: 'RFC 6962 consistency proof, base64 hashes' })
  hashes!: string[];
  @ApiProperty({ description: 'The signed checkpoint of to' }) checkpoint!: string;
}

export class ProvenanceRecordDto {
  @ApiProperty({ enum: ['publication', 'withdrawal'] }) kind!: 'publication' | 'withdrawal';
  @ApiProperty() log_index!: number;
  @ApiProperty({ format: 'date-time' }) integrated_at!: string;
  @ApiProperty({
    description: 'DSSE envelope whose payload is an in-toto Statement v1',
    type: 'object',
    additionalProperties: true,
  })
  record!: Record<string, unknown>;
  @ApiProperty({
    description:
      'Sigstore bundle v0.3 (the envelope, its key hint, the log entry with its inclusion proof and checkpoint)',
    type: 'object',
    additionalProperties: true,
  })
  bundle!: Record<string, unknown>;
}

export class VersionProvenanceDto extends ProvenanceRecordDto {
  @ApiProperty({
    type: ProvenanceRecordDto,
    nullable: true,
    description: 'The withdrawal record, once withdrawn',
  })
  withdrawal!: ProvenanceRecordDto | null;
}
