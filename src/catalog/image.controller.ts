import { Body, Controller, Get, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentActor, CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { PublicRead, RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { PaginationQueryDto } from '../common/http/pagination.query.dto';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import { CatalogService } from './catalog.service';
import { ImageCreateDto, ImageParamsDto, ImageUpdateDto } from './dto/catalog.request.dto';
import { ImageListResponseDto, ImageResponseDto } from './dto/catalog.response.dto';
import type { ImageEntity } from './image.entity';

const NO_STORAGE = { bytes: 0, bytesUnique: 0 };

@ApiTags('catalog')
@ApiBearerAuth('bearer')
@Controller('v1/images')
export class ImageController {
  constructor(private readonly catalog: CatalogService) {}

  @Get()
  @PublicRead()
  @ApiOperation({
    summary: 'Images in name order; anonymous callers see images with a published version',
  })
  @ApiOkResponse({ type: ImageListResponseDto })
  @ApiProblems(400, 401, 403)
  async listImages(
    @CurrentPrincipal() principal: Principal | null,
    @Query() query: PaginationQueryDto,
  ): Promise<ImageListResponseDto> {
    const page = await this.catalog.listImages(
      principal,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('images', page, (i) => ImageResponseDto.of(i.image, i.storage));
  }

  @Post()
  @RequireAction('content.write', { imageBodyField: 'name' })
  @ApiCreatedResponse({ type: ImageResponseDto })
  @ApiProblems(400, 401, 403, 409)
  async createImage(
    @CurrentActor() actor: Actor,
    @Body() body: ImageCreateDto,
  ): Promise<ImageResponseDto> {
    const image = await this.catalog.createImage(actor, {
      name: body.name,
      displayName: body.display_name ?? null,
      description: body.description ?? null,
    });
    return this.respond(image, actor.principal);
  }

  @Get(':name')
  @PublicRead({ imageParam: 'name' })
  @ApiOkResponse({ type: ImageResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getImage(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ImageParamsDto,
  ): Promise<ImageResponseDto> {
    return this.respond(await this.catalog.getImage(principal, params.name), principal);
  }

  @Patch(':name')
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiOperation({ summary: 'Change display metadata' })
  @ApiOkResponse({ type: ImageResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async updateImage(
    @CurrentActor() actor: Actor,
    @Param() params: ImageParamsDto,
    @Body() body: ImageUpdateDto,
  ): Promise<ImageResponseDto> {
    const fields: { displayName?: string | null; description?: string | null } = {};
    if (body.display_name !== undefined) fields.displayName = body.display_name;
    if (body.description !== undefined) fields.description = body.description;
    return this.respond(
      await this.catalog.updateImage(actor, params.name, fields),
      actor.principal,
    );
  }

  private async respond(
    image: ImageEntity,
    principal: Principal | null,
  ): Promise<ImageResponseDto> {
    const storage = await this.catalog.storageOf(principal, [image]);
    return ImageResponseDto.of(image, storage.get(image.id) ?? NO_STORAGE);
  }
}
