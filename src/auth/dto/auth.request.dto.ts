import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsBoolean,
  IsDateString,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  MaxLength,
  ValidateBy,
  type ValidationOptions,
} from 'class-validator';
import { PaginationQueryDto } from '../../common/http/pagination.query.dto';
import { BUILT_IN_ROLES } from '../actions';
import { globTooComplex, MAX_GLOB_STARS } from '../image-glob';

/** An image glob: at most 128 characters and MAX_GLOB_STARS (16) `*` (the look-ahead). */
export const IMAGE_GLOB_PATTERN = /^(?!(?:[^*]*\*){17})[a-z0-9*?][a-z0-9._*?-]{0,127}$/;
const IMAGE_GLOB_MESSAGE =
  'each pattern must match ^[a-z0-9*?][a-z0-9._*?-]{0,127}$ with at most 16 `*`';
const ROLE_IDS = Object.keys(BUILT_IN_ROLES);

/**
 * A flat object of at most `max` string values, each at most 256 characters; with `globs`, each
 * value a glob of at most MAX_GLOB_STARS `*`.
 */
function IsStringRecord(max: number, options?: ValidationOptions, globs = false) {
  return ValidateBy(
    {
      name: 'isStringRecord',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          Object.keys(value).length <= max &&
          Object.entries(value).every(
            ([k, v]) =>
              k.length >= 1 &&
              k.length <= 128 &&
              typeof v === 'string' &&
              v.length <= 256 &&
              !(globs && globTooComplex(v)),
          ),
        defaultMessage: () =>
          globs
            ? `must be an object of at most ${max} globs (256 characters, ${MAX_GLOB_STARS} \`*\` each)`
            : `must be an object of at most ${max} string values`,
      },
    },
    options,
  );
}

export class PrincipalCreateDto {
  @ApiProperty({ enum: ['user', 'service'] })
  @IsIn(['user', 'service'])
  kind!: 'user' | 'service';

  @ApiProperty({ minLength: 1, maxLength: 200, example: 'release pipeline' })
  @IsString()
  @Length(1, 200)
  display_name!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { team: 'platform' },
  })
  @IsOptional()
  @IsStringRecord(32)
  attributes?: Record<string, string>;
}

export class RoleGrantPatchDto {
  @ApiPropertyOptional({
    type: [String],
    description:
      'Patterns to add to the grant (which is created with them if the principal lacks the role)',
    example: ['ubuntu-*'],
  })
  @IsOptional()
  @ArrayMaxSize(100)
  @Matches(IMAGE_GLOB_PATTERN, { each: true, message: IMAGE_GLOB_MESSAGE })
  add_images?: string[];

  @ApiPropertyOptional({
    type: [String],
    description:
      'Patterns to remove from the grant; removing its last one is refused (revoke the role instead)',
    example: ['debian-*'],
  })
  @IsOptional()
  @ArrayMaxSize(100)
  @Matches(IMAGE_GLOB_PATTERN, { each: true, message: IMAGE_GLOB_MESSAGE })
  remove_images?: string[];
}

export class PrincipalListQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({
    description: 'Only principals with exactly this display name',
    maxLength: 200,
  })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  display_name?: string;
}

export class RoleGrantPutDto {
  @ApiPropertyOptional({
    type: [String],
    default: ['*'],
    description: 'Glob patterns over image names (`*`, `?`) the grant covers',
    example: ['debian-*'],
  })
  @IsOptional()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @Matches(IMAGE_GLOB_PATTERN, {
    each: true,
    message: IMAGE_GLOB_MESSAGE,
  })
  images?: string[];
}

export class ApiTokenCreateDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'ci-publisher' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @ApiProperty({
    format: 'date-time',
    description: 'Required; at most IMGSRV_TOKEN_MAX_LIFETIME ahead',
  })
  @IsDateString({ strict: true }, { message: 'must be an RFC 3339 timestamp' })
  expires_at!: string;
}

export class OidcProvisioningRuleDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'GitHub Actions of acme/images' })
  @IsString()
  @Length(1, 200)
  display_name!: string;

  @ApiProperty({ example: 'https://token.actions.githubusercontent.com' })
  @IsString()
  @MaxLength(2048)
  issuer_url!: string;

  @ApiProperty({ example: 'imgsrv' })
  @IsString()
  @Length(1, 512)
  audience!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'claim → glob (`*`, `?`; at most 16 `*`); every one must match',
    example: { repository: 'acme/images', ref: 'refs/heads/main' },
  })
  @IsObject()
  @IsStringRecord(32, undefined, true)
  claims!: Record<string, string>;

  @ApiProperty({ enum: ROLE_IDS })
  @IsIn(ROLE_IDS)
  role_id!: string;

  @ApiPropertyOptional({ type: [String], default: ['*'] })
  @IsOptional()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @Matches(IMAGE_GLOB_PATTERN, {
    each: true,
    message: IMAGE_GLOB_MESSAGE,
  })
  images?: string[];

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class PrincipalParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  principal_id!: string;
}

export class PrincipalRoleParamsDto extends PrincipalParamsDto {
  @ApiProperty({ enum: ROLE_IDS })
  @IsString()
  @MaxLength(64)
  role_id!: string;
}

export class ApiTokenParamsDto {
  @ApiProperty({ example: 'k3v9x0q2m8a1b7c4' })
  @Matches(/^[a-z0-9]{16}$/, { message: 'must be a 16-character token id' })
  token_id!: string;
}

export class OidcRuleParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  rule_id!: string;
}
