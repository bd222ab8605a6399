import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentActor, CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { PublicRead, RequireAction } from '../auth/require-action.decorator';
import { ImageParamsDto, RefParamsDto } from '../catalog/dto/catalog.request.dto';
import { ManifestResponseDto } from '../catalog/dto/catalog.response.dto';
import { sendManifest } from '../catalog/manifest.http';
import { renderManifest } from '../catalog/published-manifests';
import { ApiEntityTag } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { PaginationQueryDto } from '../common/http/pagination.query.dto';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { aliasEtag, AliasesService } from './aliases.service';
import {
  AliasListResponseDto,
  AliasParamsDto,
  AliasPutDto,
  AliasResponseDto,
} from './dto/alias.dto';

@ApiTags('aliases')
@ApiBearerAuth('bearer')
@Controller('v1/images/:name')
export class AliasesController {
  constructor(private readonly aliases: AliasesService) {}

  @Get('aliases')
  @PublicRead({ imageParam: 'name' })
  @ApiOkResponse({ type: AliasListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listAliases(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ImageParamsDto,
    @Query() query: PaginationQueryDto,
  ): Promise<AliasListResponseDto> {
    const page = await this.aliases.list(
      principal,
      params.name,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('aliases', page, (a) => AliasResponseDto.of(a));
  }

  @Get('aliases/:alias')
  @PublicRead({ imageParam: 'name' })
  @ApiOperation({ summary: 'The alias, with an ETag for conditional moves' })
  @ApiOkResponse({ type: AliasResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getAlias(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: AliasParamsDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AliasResponseDto> {
    const row = await this.aliases.get(principal, params.name, params.alias);
    void reply.header('etag', aliasEtag(row)).header('cache-control', 'no-cache');
    return AliasResponseDto.of(row);
  }

  @Put('aliases/:alias')
  @RequireAction('alias.write', { imageParam: 'name' })
  @ApiOperation({
    summary: 'Create or move the alias to a published version; If-Match makes the move conditional',
  })
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description: "The alias's ETag (412 when it moved since)",
  })
  @ApiOkResponse({ type: AliasResponseDto })
  @ApiProblems(400, 401, 403, 404, 409, 412)
  async putAlias(
    @CurrentActor() actor: Actor,
    @Param() params: AliasParamsDto,
    @Body() body: AliasPutDto,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AliasResponseDto> {
    const { row } = await this.aliases.put(actor, params.name, params.alias, body.version, ifMatch);
    void reply.header('etag', aliasEtag(row));
    return AliasResponseDto.of(row);
  }

  @Delete('aliases/:alias')
  @HttpCode(204)
  @RequireAction('alias.write', { imageParam: 'name' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 412)
  async deleteAlias(
    @CurrentActor() actor: Actor,
    @Param() params: AliasParamsDto,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    await this.aliases.delete(actor, params.name, params.alias, ifMatch);
  }

  @Get('refs/:ref')
  @PublicRead({ imageParam: 'name' })
  @ApiOperation({
    summary: 'The manifest of the published version named by ref: an exact version, else an alias',
  })
  @ApiEntityTag(
    ManifestResponseDto,
    'The manifest the ref names now (an alias move changes it; so does a withdrawal)',
    '`public, no-cache` without credentials, `private, no-cache` otherwise',
  )
  @ApiProblems(400, 401, 403, 404)
  async resolveRef(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: RefParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const manifest = await this.aliases.resolveRef(principal, params.name, params.ref);
    return sendManifest(request, reply, renderManifest(manifest));
  }
}
