import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import { BUILT_IN_ROLES, type RoleId } from './actions';
import { generateApiToken, hashSecret } from './api-token';
import type { ApiTokenEntity } from './api-token.entity';
import { ApiTokenRepository } from './api-token.repository';
import type { Actor } from './actor';
import { checkIssuerUrl } from './oidc-issuer-url';
import type { OidcProvisioningRuleEntity } from './oidc-provisioning-rule.entity';
import {
  OidcProvisioningRuleRepository,
  type OidcRuleFields,
} from './oidc-provisioning-rule.repository';
import type { PrincipalEntity } from './principal.entity';
import { PrincipalRepository, type PrincipalInsert } from './principal.repository';
import type { RoleGrantEntity } from './role-grant.entity';
import { RoleGrantRepository } from './role-grant.repository';

export interface PrincipalWithGrants {
  readonly principal: PrincipalEntity;
  readonly grants: RoleGrantEntity[];
}

const byCreation = (row: { createdAt: Date; id: string }) => [row.createdAt.toISOString(), row.id];

export function isRoleId(value: string): value is RoleId {
  return Object.hasOwn(BUILT_IN_ROLES, value);
}

/** Managing principals, grants, API tokens and OIDC rules; every change is audited. */
@Injectable()
export class AuthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly principals: PrincipalRepository,
    private readonly grants: RoleGrantRepository,
    private readonly tokens: ApiTokenRepository,
    private readonly rules: OidcProvisioningRuleRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Principals, oldest first, with their grants; only those called `displayName` if given. */
  async listPrincipals(
    limit: number,
    cursor?: string,
    displayName?: string,
  ): Promise<Page<PrincipalWithGrants>> {
    const page = pageOf(await this.principals.list(limit, cursor, displayName), limit, byCreation);
    const grants = await this.grants.listFor(page.items.map((p) => p.id));
    return {
      items: page.items.map((principal) => ({
        principal,
        grants: grants.filter((g) => g.principalId === principal.id),
      })),
      nextCursor: page.nextCursor,
    };
  }

  async createPrincipal(actor: Actor, input: PrincipalInsert): Promise<PrincipalWithGrants> {
    const principal = await this.dataSource.transaction(async (manager) => {
      const created = await this.principals.insert(manager, input);
      await this.audit.record(manager, {
        actor,
        action: 'principal.create',
        targetType: 'principal',
        targetId: created.id,
        detail: { kind: created.kind, display_name: created.displayName },
      });
      return created;
    });
    return { principal, grants: [] };
  }

  async getPrincipal(id: string): Promise<PrincipalWithGrants> {
    const principal = await this.principals.findById(id);
    if (!principal) throw new DomainError('PRINCIPAL_NOT_FOUND', `No principal has id ${id}.`);
    return { principal, grants: await this.grants.listFor([id]) };
  }

  /** Principals whose display name is exactly `displayName`. */
  findPrincipalsByName(displayName: string): Promise<PrincipalEntity[]> {
    return this.principals.findByDisplayName(displayName);
  }

  async grantRole(
    actor: Actor,
    principalId: string,
    roleId: string,
    images: string[],
  ): Promise<void> {
    const role = this.requireRole(roleId);
    await this.dataSource.transaction(async (manager) => {
      if (!(await this.principals.findById(principalId, manager))) {
        throw new DomainError('PRINCIPAL_NOT_FOUND', `No principal has id ${principalId}.`);
      }
      await this.grants.upsert(manager, principalId, role, images);
      await this.audit.record(manager, {
        actor,
        action: 'role_grant.put',
        targetType: 'principal',
        targetId: principalId,
        detail: { role_id: role, images },
      });
    });
  }

  /**
   * Adds patterns to a grant's scope and removes others, explicitly (PUT replaces the scope
   * whole). Adding to a role the principal lacks grants it with those patterns; a change that
   * would leave no pattern is refused (GRANT_EMPTY: revoke the role instead). Returns the scope.
   */
  async changeRoleScope(
    actor: Actor,
    principalId: string,
    roleId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<string[]> {
    const role = this.requireRole(roleId);
    if (add.length === 0 && remove.length === 0)
      throw DomainError.validation([
        { pointer: '/add_images', detail: 'name patterns to add or to remove (remove_images)' },
      ]);
    return this.dataSource.transaction(async (manager) => {
      if (!(await this.principals.findById(principalId, manager)))
        throw new DomainError('PRINCIPAL_NOT_FOUND', `No principal has id ${principalId}.`);
      const current = await this.grants.lockScope(manager, principalId, role);
      if (current === null && add.length === 0)
        throw new DomainError('GRANT_NOT_FOUND', `Principal ${principalId} does not hold ${role}.`);
      const removed = new Set(remove);
      const images = [...new Set([...(current ?? []), ...add])].filter((p) => !removed.has(p));
      if (images.length === 0)
        throw new DomainError(
          'GRANT_EMPTY',
          `Removing ${remove.join(', ')} leaves ${role} covering no image; revoke the role instead.`,
        );
      if (images.length > 100)
        throw DomainError.validation([
          { pointer: '/add_images', detail: 'a grant holds at most 100 patterns' },
        ]);
      await this.grants.upsert(manager, principalId, role, images);
      await this.audit.record(manager, {
        actor,
        action: 'role_grant.patch',
        targetType: 'principal',
        targetId: principalId,
        detail: { role_id: role, added: add, removed: remove, images },
      });
      return images;
    });
  }

  async revokeRole(actor: Actor, principalId: string, roleId: string): Promise<void> {
    const role = this.requireRole(roleId);
    await this.dataSource.transaction(async (manager) => {
      if (role === 'auth-manager') await this.grants.lockAuthManagers(manager);
      if (!(await this.grants.delete(manager, principalId, role))) {
        throw new DomainError('GRANT_NOT_FOUND', `Principal ${principalId} does not hold ${role}.`);
      }
      if (
        role === 'auth-manager' &&
        (await this.grants.countHolders(manager, 'auth-manager')) === 0
      ) {
        throw new DomainError(
          'LAST_AUTH_MANAGER',
          'This is the last auth-manager grant; grant it to someone else first.',
        );
      }
      await this.audit.record(manager, {
        actor,
        action: 'role_grant.delete',
        targetType: 'principal',
        targetId: principalId,
        detail: { role_id: role },
      });
    });
  }

  async listTokens(
    principalId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<ApiTokenEntity>> {
    await this.getPrincipal(principalId);
    return pageOf(await this.tokens.listFor(principalId, limit, cursor), limit, byCreation);
  }

  /** Issues a token; the plaintext is returned here and never again. */
  async issueToken(
    actor: Actor,
    principalId: string,
    input: { name: string | null; expiresAt: Date },
  ): Promise<{ token: ApiTokenEntity; plaintext: string }> {
    const now = Date.now();
    if (input.expiresAt.getTime() <= now) {
      throw DomainError.validation([{ pointer: '/expires_at', detail: 'must be in the future' }]);
    }
    if (input.expiresAt.getTime() > now + this.config.auth.tokenMaxLifetimeMs) {
      const days = Math.floor(this.config.auth.tokenMaxLifetimeMs / 86_400_000);
      throw DomainError.validation([
        {
          pointer: '/expires_at',
          detail: `must be at most ${days} days ahead (IMGSRV_TOKEN_MAX_LIFETIME)`,
        },
      ]);
    }
    const generated = generateApiToken();
    const token = await this.dataSource.transaction(async (manager) => {
      if (!(await this.principals.findById(principalId, manager))) {
        throw new DomainError('PRINCIPAL_NOT_FOUND', `No principal has id ${principalId}.`);
      }
      const row = await this.tokens.insert(manager, {
        id: generated.id,
        principalId,
        name: input.name,
        secretSha256: hashSecret(generated.secret),
        expiresAt: input.expiresAt,
        createdBy: actor.principal?.id ?? null,
      });
      await this.audit.record(manager, {
        actor,
        action: 'api_token.create',
        targetType: 'api_token',
        targetId: row.id,
        detail: {
          principal_id: principalId,
          name: input.name,
          expires_at: input.expiresAt.toISOString(),
        },
      });
      return row;
    });
    return { token, plaintext: generated.plaintext };
  }

  async revokeToken(actor: Actor, tokenId: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const token = await this.tokens.findById(tokenId, manager);
      if (!token) throw new DomainError('API_TOKEN_NOT_FOUND', `No API token has id ${tokenId}.`);
      if (await this.tokens.revoke(manager, tokenId)) {
        await this.audit.record(manager, {
          actor,
          action: 'api_token.revoke',
          targetType: 'api_token',
          targetId: tokenId,
          detail: { principal_id: token.principalId },
        });
      }
    });
  }

  async tokenExpiry(tokenId: string): Promise<Date | null> {
    return (await this.tokens.findById(tokenId))?.expiresAt ?? null;
  }

  async listRules(limit: number, cursor?: string): Promise<Page<OidcProvisioningRuleEntity>> {
    return pageOf(await this.rules.list(limit, cursor), limit, byCreation);
  }

  async getRule(id: string): Promise<OidcProvisioningRuleEntity> {
    const rule = await this.rules.findById(id);
    if (!rule)
      throw new DomainError('OIDC_RULE_NOT_FOUND', `No OIDC provisioning rule has id ${id}.`);
    return rule;
  }

  async createRule(actor: Actor, fields: OidcRuleFields): Promise<OidcProvisioningRuleEntity> {
    const clean = this.checkRule(fields);
    return this.dataSource.transaction(async (manager) => {
      const rule = await this.rules.insert(manager, clean);
      await this.audit.record(manager, {
        actor,
        action: 'oidc_rule.create',
        targetType: 'oidc_provisioning_rule',
        targetId: rule.id,
        detail: {
          issuer_url: rule.issuerUrl,
          audience: rule.audience,
          role_id: rule.roleId,
          images: rule.images,
        },
      });
      return rule;
    });
  }

  async replaceRule(
    actor: Actor,
    id: string,
    fields: OidcRuleFields,
  ): Promise<OidcProvisioningRuleEntity> {
    const clean = this.checkRule(fields);
    return this.dataSource.transaction(async (manager) => {
      const rule = await this.rules.update(manager, id, clean);
      if (!rule)
        throw new DomainError('OIDC_RULE_NOT_FOUND', `No OIDC provisioning rule has id ${id}.`);
      await this.audit.record(manager, {
        actor,
        action: 'oidc_rule.replace',
        targetType: 'oidc_provisioning_rule',
        targetId: id,
        detail: {
          issuer_url: rule.issuerUrl,
          audience: rule.audience,
          role_id: rule.roleId,
          enabled: rule.enabled,
        },
      });
      return rule;
    });
  }

  async deleteRule(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      if (!(await this.rules.delete(manager, id))) {
        throw new DomainError('OIDC_RULE_NOT_FOUND', `No OIDC provisioning rule has id ${id}.`);
      }
      await this.audit.record(manager, {
        actor,
        action: 'oidc_rule.delete',
        targetType: 'oidc_provisioning_rule',
        targetId: id,
      });
    });
  }

  private requireRole(roleId: string): RoleId {
    if (!isRoleId(roleId))
      throw new DomainError('ROLE_NOT_FOUND', `No built-in role is called ${roleId}.`);
    return roleId;
  }

  private checkRule(fields: OidcRuleFields): OidcRuleFields {
    const issuer = checkIssuerUrl(fields.issuerUrl, this.config.auth);
    if ('problem' in issuer)
      throw DomainError.validation([{ pointer: '/issuer_url', detail: issuer.problem }]);
    return {
      ...fields,
      issuerUrl: issuer.url,
      roleId: this.requireRole(fields.roleId),
    };
  }
}
