import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { DomainError } from '../common/errors/domain-error';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { PaginationQueryDto } from '../common/http/pagination.query.dto';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { AuthService } from './auth.service';
import { CurrentActor, CurrentPrincipal } from './current-principal.decorator';
import type { Actor } from './actor';
import {
  ApiTokenCreateDto,
  ApiTokenParamsDto,
  OidcProvisioningRuleDto,
  OidcRuleParamsDto,
  PrincipalCreateDto,
  PrincipalListQueryDto,
  PrincipalParamsDto,
  PrincipalRoleParamsDto,
  RoleGrantPatchDto,
  RoleGrantPutDto,
} from './dto/auth.request.dto';
import {
  ApiTokenCreatedResponseDto,
  ApiTokenListResponseDto,
  GrantResponseDto,
  OidcProvisioningRuleListResponseDto,
  OidcProvisioningRuleResponseDto,
  PrincipalListResponseDto,
  PrincipalResponseDto,
  RoleListResponseDto,
  WhoamiResponseDto,
} from './dto/auth.response.dto';
import {
  builtInRoles,
  toPrincipalResponse,
  toRuleResponse,
  toTokenResponse,
} from './dto/auth.mapper';
import type { OidcRuleFields } from './oidc-provisioning-rule.repository';
import type { Principal } from './principal';
import { RequireAction } from './require-action.decorator';

function ruleFields(dto: OidcProvisioningRuleDto): OidcRuleFields {
  return {
    displayName: dto.display_name,
    issuerUrl: dto.issuer_url,
    audience: dto.audience,
    claims: dto.claims,
    roleId: dto.role_id as OidcRuleFields['roleId'],
    images: dto.images ?? ['*'],
    enabled: dto.enabled ?? true,
  };
}

@ApiTags('auth')
@ApiBearerAuth('bearer')
@Controller('v1/auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Get('whoami')
  @ApiOperation({ summary: 'The caller: principal, grants and the credential used' })
  @ApiOkResponse({ type: WhoamiResponseDto })
  @ApiProblems(401)
  async getWhoami(@CurrentPrincipal() caller: Principal | null): Promise<WhoamiResponseDto> {
    if (!caller)
      throw new DomainError(
        'UNAUTHENTICATED',
        'whoami needs credentials.',
        {},
        { 'www-authenticate': 'Bearer realm="imgsrv"' },
      );
    const { principal } = await this.auth.getPrincipal(caller.id);
    const expiresAt =
      caller.via.type === 'api_token' ? await this.auth.tokenExpiry(caller.via.id) : null;
    return {
      principal: toPrincipalResponse(principal, caller.grants),
      credential: {
        type: caller.via.type,
        id: caller.via.id,
        expires_at: expiresAt?.toISOString() ?? null,
      },
    };
  }

  @Get('roles')
  @RequireAction('auth.manage')
  @ApiOperation({ summary: 'The built-in roles and their actions' })
  @ApiOkResponse({ type: RoleListResponseDto })
  @ApiProblems(401, 403)
  listRoles(): RoleListResponseDto {
    return { roles: builtInRoles() };
  }

  @Get('principals')
  @RequireAction('auth.manage')
  @ApiOkResponse({ type: PrincipalListResponseDto })
  @ApiProblems(400, 401, 403)
  async listPrincipals(@Query() query: PrincipalListQueryDto): Promise<PrincipalListResponseDto> {
    const page = await this.auth.listPrincipals(
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
      query.display_name,
    );
    return pageResponse('principals', page, (p) => toPrincipalResponse(p.principal, p.grants));
  }

  @Post('principals')
  @RequireAction('auth.manage')
  @ApiCreatedResponse({ type: PrincipalResponseDto })
  @ApiProblems(400, 401, 403)
  async createPrincipal(
    @CurrentActor() actor: Actor,
    @Body() body: PrincipalCreateDto,
  ): Promise<PrincipalResponseDto> {
    const { principal, grants } = await this.auth.createPrincipal(actor, {
      kind: body.kind,
      displayName: body.display_name,
      attributes: body.attributes ?? {},
    });
    return toPrincipalResponse(principal, grants);
  }

  @Get('principals/:principal_id')
  @RequireAction('auth.manage')
  @ApiOkResponse({ type: PrincipalResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getPrincipal(@Param() params: PrincipalParamsDto): Promise<PrincipalResponseDto> {
    const { principal, grants } = await this.auth.getPrincipal(params.principal_id);
    return toPrincipalResponse(principal, grants);
  }

  @Put('principals/:principal_id/roles/:role_id')
  @HttpCode(204)
  @RequireAction('auth.manage')
  @ApiOperation({ summary: 'Grant a role with an image scope (creates or replaces the scope)' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404)
  async putPrincipalRole(
    @CurrentActor() actor: Actor,
    @Param() params: PrincipalRoleParamsDto,
    @Body() body: RoleGrantPutDto,
  ): Promise<void> {
    await this.auth.grantRole(actor, params.principal_id, params.role_id, body.images ?? ['*']);
  }

  @Patch('principals/:principal_id/roles/:role_id')
  @RequireAction('auth.manage')
  @ApiOperation({
    summary: "Add patterns to a grant's image scope or remove some (the grant's scope after)",
  })
  @ApiOkResponse({ type: GrantResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async patchPrincipalRole(
    @CurrentActor() actor: Actor,
    @Param() params: PrincipalRoleParamsDto,
    @Body() body: RoleGrantPatchDto,
  ): Promise<GrantResponseDto> {
    const images = await this.auth.changeRoleScope(
      actor,
      params.principal_id,
      params.role_id,
      body.add_images ?? [],
      body.remove_images ?? [],
    );
    return { role_id: params.role_id, images };
  }

  @Delete('principals/:principal_id/roles/:role_id')
  @HttpCode(204)
  @RequireAction('auth.manage')
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 409)
  async deletePrincipalRole(
    @CurrentActor() actor: Actor,
    @Param() params: PrincipalRoleParamsDto,
  ): Promise<void> {
    await this.auth.revokeRole(actor, params.principal_id, params.role_id);
  }

  @Get('principals/:principal_id/api-tokens')
  @RequireAction('auth.manage')
  @ApiOkResponse({ type: ApiTokenListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listApiTokens(
    @Param() params: PrincipalParamsDto,
    @Query() query: PaginationQueryDto,
  ): Promise<ApiTokenListResponseDto> {
    const page = await this.auth.listTokens(
      params.principal_id,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('api_tokens', page, toTokenResponse);
  }

  @Post('principals/:principal_id/api-tokens')
  @RequireAction('auth.manage')
  @ApiOperation({ summary: 'Issue an API token; its plaintext appears in this response only' })
  @ApiCreatedResponse({ type: ApiTokenCreatedResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async createApiToken(
    @CurrentActor() actor: Actor,
    @Param() params: PrincipalParamsDto,
    @Body() body: ApiTokenCreateDto,
  ): Promise<ApiTokenCreatedResponseDto> {
    const { token, plaintext } = await this.auth.issueToken(actor, params.principal_id, {
      name: body.name ?? null,
      expiresAt: new Date(body.expires_at),
    });
    return { ...toTokenResponse(token), plaintext };
  }

  @Delete('api-tokens/:token_id')
  @HttpCode(204)
  @RequireAction('auth.manage')
  @ApiOperation({ summary: 'Revoke an API token (idempotent)' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404)
  async revokeApiToken(
    @CurrentActor() actor: Actor,
    @Param() params: ApiTokenParamsDto,
  ): Promise<void> {
    await this.auth.revokeToken(actor, params.token_id);
  }

  @Get('oidc-provisioning-rules')
  @RequireAction('auth.manage')
  @ApiOkResponse({ type: OidcProvisioningRuleListResponseDto })
  @ApiProblems(400, 401, 403)
  async listOidcProvisioningRules(
    @Query() query: PaginationQueryDto,
  ): Promise<OidcProvisioningRuleListResponseDto> {
    const page = await this.auth.listRules(query.limit ?? DEFAULT_PAGE_SIZE, query.cursor);
    return pageResponse('oidc_provisioning_rules', page, toRuleResponse);
  }

  @Post('oidc-provisioning-rules')
  @RequireAction('auth.manage')
  @ApiCreatedResponse({ type: OidcProvisioningRuleResponseDto })
  @ApiProblems(400, 401, 403)
  async createOidcProvisioningRule(
    @CurrentActor() actor: Actor,
    @Body() body: OidcProvisioningRuleDto,
  ): Promise<OidcProvisioningRuleResponseDto> {
    return toRuleResponse(await this.auth.createRule(actor, ruleFields(body)));
  }

  @Get('oidc-provisioning-rules/:rule_id')
  @RequireAction('auth.manage')
  @ApiOkResponse({ type: OidcProvisioningRuleResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getOidcProvisioningRule(
    @Param() params: OidcRuleParamsDto,
  ): Promise<OidcProvisioningRuleResponseDto> {
    return toRuleResponse(await this.auth.getRule(params.rule_id));
  }

  @Put('oidc-provisioning-rules/:rule_id')
  @RequireAction('auth.manage')
  @ApiOperation({ summary: 'Replace a rule' })
  @ApiOkResponse({ type: OidcProvisioningRuleResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async replaceOidcProvisioningRule(
    @CurrentActor() actor: Actor,
    @Param() params: OidcRuleParamsDto,
    @Body() body: OidcProvisioningRuleDto,
  ): Promise<OidcProvisioningRuleResponseDto> {
    return toRuleResponse(await this.auth.replaceRule(actor, params.rule_id, ruleFields(body)));
  }

  @Delete('oidc-provisioning-rules/:rule_id')
  @HttpCode(204)
  @RequireAction('auth.manage')
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404)
  async deleteOidcProvisioningRule(
    @CurrentActor() actor: Actor,
    @Param() params: OidcRuleParamsDto,
  ): Promise<void> {
    await this.auth.deleteRule(actor, params.rule_id);
  }
}
