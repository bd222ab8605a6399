import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ACTIONS } from '../actions';

export class GrantResponseDto {
  @ApiProperty({ example: 'content-writer' })
  role_id!: string;

  @ApiProperty({ type: [String], example: ['debian-*'] })
  images!: string[];
}

export class PrincipalResponseDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ enum: ['user', 'service'] })
  kind!: string;

  @ApiProperty()
  display_name!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  attributes!: Record<string, unknown>;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Set for principals provisioned from OIDC',
  })
  oidc_issuer!: string | null;

  @ApiProperty({ type: String, nullable: true })
  oidc_subject!: string | null;

  @ApiProperty({ type: [GrantResponseDto] })
  grants!: GrantResponseDto[];

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;
}

export class PrincipalListResponseDto {
  @ApiProperty({ type: [PrincipalResponseDto], description: 'Principals, without their grants' })
  principals!: PrincipalResponseDto[];

  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

export class RoleResponseDto {
  @ApiProperty({ example: 'reader' })
  id!: string;

  @ApiProperty({ isArray: true, enum: ACTIONS })
  actions!: string[];
}

export class RoleListResponseDto {
  @ApiProperty({ type: [RoleResponseDto] })
  roles!: RoleResponseDto[];
}

export class ApiTokenResponseDto {
  @ApiProperty({ example: 'k3v9x0q2m8a1b7c4' })
  id!: string;

  @ApiProperty({ format: 'uuid' })
  principal_id!: string;

  @ApiProperty({ type: String, nullable: true })
  name!: string | null;

  @ApiProperty({ format: 'date-time' })
  expires_at!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revoked_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Updated at most once a minute',
  })
  last_used_at!: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  created_by!: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;
}

export class ApiTokenCreatedResponseDto extends ApiTokenResponseDto {
  @ApiProperty({
    description: 'The token itself: shown in this response only',
    example: 'imgsrv_k3v9x0q2m8a1b7c4_…',
  })
  plaintext!: string;
}

export class ApiTokenListResponseDto {
  @ApiProperty({ type: [ApiTokenResponseDto] })
  api_tokens!: ApiTokenResponseDto[];

  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}

export class CredentialResponseDto {
  @ApiProperty({ enum: ['api_token', 'oidc'] })
  type!: string;

  @ApiProperty({ description: 'API token id, or the OIDC subject' })
  id!: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  expires_at!: string | null;
}

export class WhoamiResponseDto {
  @ApiProperty({
    type: PrincipalResponseDto,
    description: 'The principal; for OIDC, grants are those of the matching rules',
  })
  principal!: PrincipalResponseDto;

  @ApiProperty({ type: CredentialResponseDto })
  credential!: CredentialResponseDto;
}

export class OidcProvisioningRuleResponseDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty()
  display_name!: string;

  @ApiProperty()
  issuer_url!: string;

  @ApiProperty()
  audience!: string;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  claims!: Record<string, string>;

  @ApiProperty()
  role_id!: string;

  @ApiProperty({ type: [String] })
  images!: string[];

  @ApiProperty()
  enabled!: boolean;

  @ApiProperty({ format: 'date-time' })
  created_at!: string;

  @ApiProperty({ format: 'date-time' })
  updated_at!: string;
}

export class OidcProvisioningRuleListResponseDto {
  @ApiProperty({ type: [OidcProvisioningRuleResponseDto] })
  oidc_provisioning_rules!: OidcProvisioningRuleResponseDto[];

  @ApiProperty({ type: String, nullable: true })
  next_cursor!: string | null;
}
