import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { ImageParamsDto, VERSION_NAME } from '../../catalog/dto/catalog.request.dto';
import type { AliasRow } from '../alias.repository';

export const ALIAS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class AliasParamsDto extends ImageParamsDto {
  @ApiProperty({ pattern: ALIAS_NAME.source, example: 'latest' })
  @Matches(ALIAS_NAME, { message: `must match ${ALIAS_NAME.source}` })
  alias!: string;
}

export class AliasPutDto {
  @ApiProperty({ pattern: VERSION_NAME.source, description: 'A published version of the image' })
  @IsString()
  @Matches(VERSION_NAME, { message: `must match ${VERSION_NAME.source}` })
  version!: string;
}

export class AliasResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) image_id!: string;
  @ApiProperty({ example: 'latest' }) alias!: string;
  @ApiProperty({ format: 'uuid' }) version_id!: string;
  @ApiProperty({ example: '20261123' }) version!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static of(a: AliasRow): AliasResponseDto {
    return {
      id: a.id,
      image_id: a.imageId,
      alias: a.alias,
      version_id: a.versionId,
      version: a.version,
      created_at: a.createdAt.toISOString(),
      updated_at: a.updatedAt.toISOString(),
    };
  }
}

export class AliasListResponseDto {
  @ApiProperty({ type: [AliasResponseDto] }) aliases!: AliasResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}
