import { BUILT_IN_ROLES } from '../actions';
import type { ApiTokenEntity } from '../api-token.entity';
import type { OidcProvisioningRuleEntity } from '../oidc-provisioning-rule.entity';
import type { PrincipalEntity } from '../principal.entity';
import type {
  ApiTokenResponseDto,
  GrantResponseDto,
  OidcProvisioningRuleResponseDto,
  PrincipalResponseDto,
  RoleResponseDto,
} from './auth.response.dto';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toPrincipalResponse(
  p: PrincipalEntity,
  grants: readonly { roleId: string; images: readonly string[] }[],
): PrincipalResponseDto {
  return {
    id: p.id,
    kind: p.kind,
    display_name: p.displayName,
    attributes: p.attributes,
    oidc_issuer: p.oidcIssuer,
    oidc_subject: p.oidcSubject,
    grants: grants.map((g): GrantResponseDto => ({ role_id: g.roleId, images: [...g.images] })),
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  };
}

export function toTokenResponse(t: ApiTokenEntity): ApiTokenResponseDto {
  return {
    id: t.id,
    principal_id: t.principalId,
    name: t.name,
    expires_at: t.expiresAt.toISOString(),
    revoked_at: iso(t.revokedAt),
    last_used_at: iso(t.lastUsedAt),
    created_by: t.createdBy,
    created_at: t.createdAt.toISOString(),
  };
}

export function toRuleResponse(r: OidcProvisioningRuleEntity): OidcProvisioningRuleResponseDto {
  return {
    id: r.id,
    display_name: r.displayName,
    issuer_url: r.issuerUrl,
    audience: r.audience,
    claims: r.claims,
    role_id: r.roleId,
    images: r.images,
    enabled: r.enabled,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export function builtInRoles(): RoleResponseDto[] {
  return Object.entries(BUILT_IN_ROLES).map(([id, actions]) => ({ id, actions: [...actions] }));
}
