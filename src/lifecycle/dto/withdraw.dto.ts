import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, Length, Matches } from 'class-validator';
import { VERSION_NAME } from '../../catalog/dto/catalog.request.dto';

export class WithdrawDto {
  @ApiProperty({
    minLength: 1,
    maxLength: 1000,
    example: 'CVE-2026-12345 in openssl',
    description: 'Why the version is withdrawn; kept on the version and in the audit log',
  })
  @IsString()
  @Length(1, 1000)
  reason!: string;

  @ApiPropertyOptional({
    default: false,
    description:
      'A security withdrawal: downloads answer 410 at once instead of after IMGSRV_WITHDRAW_GRACE',
  })
  @IsOptional()
  @IsBoolean()
  immediate?: boolean;

  @ApiPropertyOptional({
    pattern: VERSION_NAME.source,
    description:
      'A published version of the same image: the aliases that point at the withdrawn version ' +
      'move there in the same transaction (without it, a withdrawal of an aliased version is 409)',
  })
  @IsOptional()
  @Matches(VERSION_NAME, { message: `must match ${VERSION_NAME.source}` })
  move_aliases_to?: string;
}
