import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
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
import { ApiEntityTag } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { CatalogService } from './catalog.service';
import { sendManifest } from './manifest.http';
import {
  ImageParamsDto,
  VersionCreateDto,
  VersionListQueryDto,
  VersionParamsDto,
} from './dto/catalog.request.dto';
import {
  ManifestResponseDto,
  VersionListResponseDto,
  VersionResponseDto,
} from './dto/catalog.response.dto';

@ApiTags('catalog')
@ApiBearerAuth('bearer')
@Controller('v1/images/:name')
export class VersionController {
  constructor(private readonly catalog: CatalogService) {}

  @Get('versions')
  @PublicRead({ imageParam: 'name' })
  @ApiOperation({ summary: 'Versions, newest first; drafts need content.read' })
  @ApiOkResponse({ type: VersionListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listVersions(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ImageParamsDto,
    @Query() query: VersionListQueryDto,
  ): Promise<VersionListResponseDto> {
    const page = await this.catalog.listVersions(
      principal,
      params.name,
      query.state,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('versions', page, (v) => VersionResponseDto.of(v));
  }

  @Post('versions')
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiOperation({ summary: 'Create a draft version' })
  @ApiCreatedResponse({ type: VersionResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async createVersion(
    @CurrentActor() actor: Actor,
    @Param() params: ImageParamsDto,
    @Body() body: VersionCreateDto,
  ): Promise<VersionResponseDto> {
    return VersionResponseDto.of(
      await this.catalog.createVersion(actor, params.name, body.version),
    );
  }

  @Get('versions/:version')
  @PublicRead({ imageParam: 'name' })
  @ApiOperation({
    summary: 'The version with its manifest; non-published versions need content.read',
  })
  @ApiEntityTag(
    ManifestResponseDto,
    'The version with its artifacts and their attachments',
    'A published version’s manifest: `public, no-cache` without credentials (a withdrawal still ' +
      'changes it), `private, no-cache` otherwise',
  )
  @ApiProblems(400, 401, 403, 404)
  async getVersion(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: VersionParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const manifest = await this.catalog.renderedManifest(principal, params.name, params.version);
    return sendManifest(request, reply, manifest);
  }

  @Delete('versions/:version')
  @HttpCode(204)
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiOperation({ summary: 'Delete a draft version with its manifest' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 409)
  async deleteVersion(
    @CurrentActor() actor: Actor,
    @Param() params: VersionParamsDto,
  ): Promise<void> {
    await this.catalog.deleteVersion(actor, params.name, params.version);
  }
}
