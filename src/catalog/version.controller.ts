import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentActor, CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { PublicRead, RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { CatalogService } from './catalog.service';
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
  @ApiOkResponse({ type: ManifestResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getVersion(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: VersionParamsDto,
  ): Promise<ManifestResponseDto> {
    return ManifestResponseDto.of(
      await this.catalog.getManifest(principal, params.name, params.version),
    );
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
