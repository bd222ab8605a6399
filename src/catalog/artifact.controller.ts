import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
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
import { AcceptsBasicAuth, PublicRead, RequireAction } from '../auth/require-action.decorator';
import { ApiDownload, ApiEntityTag } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { ArtifactDownloads } from './artifact-downloads';
import { ArtifactService } from './artifact.service';
import { CatalogService } from './catalog.service';
import { sendManifest } from './manifest.http';
import {
  ArtifactCreateDto,
  ArtifactFileParamsDto,
  ArtifactParamsDto,
  AttachmentCreateDto,
  AttachmentFileParamsDto,
  AttachmentParamsDto,
  VersionParamsDto,
} from './dto/catalog.request.dto';
import {
  ArtifactListResponseDto,
  ArtifactResponseDto,
  ArtifactWithAttachmentsDto,
  AttachmentResponseDto,
} from './dto/catalog.response.dto';

@ApiTags('catalog')
@ApiBearerAuth('bearer')
@Controller('v1/images/:name/versions/:version/artifacts')
export class ArtifactController {
  constructor(
    private readonly artifacts: ArtifactService,
    private readonly downloads: ArtifactDownloads,
    private readonly catalog: CatalogService,
  ) {}

  @Get(':artifact_id/download')
  @PublicRead({ imageParam: 'name' })
  @AcceptsBasicAuth()
  @ApiOperation({
    summary: "The artifact's primary blob (GET and HEAD; single range, conditional requests)",
  })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 410, 416)
  async downloadArtifact(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ArtifactParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.downloads.artifact(principal, request, reply, params);
  }

  @Get(':artifact_id/download/:filename')
  @PublicRead({ imageParam: 'name' })
  @AcceptsBasicAuth()
  @ApiOperation({
    summary:
      'The same bytes under their file name (what Simple Streams item paths use; other names are 404)',
  })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 410, 416)
  async downloadArtifactFile(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ArtifactFileParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.downloads.artifact(principal, request, reply, params, params.filename);
  }

  @Get(':artifact_id/attachments/:attachment_id/download')
  @PublicRead({ imageParam: 'name' })
  @AcceptsBasicAuth()
  @ApiOperation({
    summary: "The attachment's blob (GET and HEAD; single range, conditional requests)",
  })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 410, 416)
  async downloadAttachment(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: AttachmentParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.downloads.attachment(principal, request, reply, params);
  }

  @Get(':artifact_id/attachments/:attachment_id/download/:filename')
  @PublicRead({ imageParam: 'name' })
  @AcceptsBasicAuth()
  @ApiOperation({ summary: 'The same bytes under the attachment name (other names are 404)' })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 410, 416)
  async downloadAttachmentFile(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: AttachmentFileParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.downloads.attachment(principal, request, reply, params, params.filename);
  }

  @Get()
  @PublicRead({ imageParam: 'name' })
  @ApiOkResponse({ type: ArtifactListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listArtifacts(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: VersionParamsDto,
  ): Promise<ArtifactListResponseDto> {
    const artifacts = await this.artifacts.listArtifacts(principal, params.name, params.version);
    return { artifacts: artifacts.map((a) => ArtifactResponseDto.of(a)) };
  }

  @Post()
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiCreatedResponse({ type: ArtifactResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async createArtifact(
    @CurrentActor() actor: Actor,
    @Param() params: VersionParamsDto,
    @Body() body: ArtifactCreateDto,
  ): Promise<ArtifactResponseDto> {
    const artifact = await this.artifacts.createArtifact(actor, params.name, params.version, {
      variant: body.variant ?? 'default',
      operatingSystem: body.operating_system,
      architecture: body.architecture,
      format: body.format,
      primaryBlobDigest: body.primary_blob_digest,
      primaryBlobSizeBytes: body.primary_blob_size_bytes,
      primaryMediaType: body.primary_media_type,
    });
    return ArtifactResponseDto.of(artifact);
  }

  @Get(':artifact_id')
  @PublicRead({ imageParam: 'name' })
  @ApiEntityTag(
    ArtifactWithAttachmentsDto,
    'The artifact with its attachments',
    'A published version’s artifact: `public, no-cache` without credentials, `private, no-cache` ' +
      'otherwise (the same validators as the manifest)',
  )
  @ApiProblems(400, 401, 403, 404, 410)
  async getArtifact(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ArtifactParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const rendered = await this.catalog.renderedArtifact(
      principal,
      params.name,
      params.version,
      params.artifact_id,
    );
    return sendManifest(request, reply, rendered);
  }

  @Delete(':artifact_id')
  @HttpCode(204)
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiNoContentResponse({ description: 'Deleted with its attachments' })
  @ApiProblems(400, 401, 403, 404, 409)
  async deleteArtifact(
    @CurrentActor() actor: Actor,
    @Param() params: ArtifactParamsDto,
  ): Promise<void> {
    await this.artifacts.deleteArtifact(actor, params.name, params.version, params.artifact_id);
  }

  @Post(':artifact_id/attachments')
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiCreatedResponse({ type: AttachmentResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async createAttachment(
    @CurrentActor() actor: Actor,
    @Param() params: ArtifactParamsDto,
    @Body() body: AttachmentCreateDto,
  ): Promise<AttachmentResponseDto> {
    const attachment = await this.artifacts.createAttachment(
      actor,
      params.name,
      params.version,
      params.artifact_id,
      {
        name: body.name,
        mediaType: body.media_type,
        blobDigest: body.blob_digest,
        blobSizeBytes: body.blob_size_bytes,
      },
    );
    return AttachmentResponseDto.of(attachment);
  }

  @Delete(':artifact_id/attachments/:attachment_id')
  @HttpCode(204)
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 409)
  async deleteAttachment(
    @CurrentActor() actor: Actor,
    @Param() params: AttachmentParamsDto,
  ): Promise<void> {
    await this.artifacts.deleteAttachment(
      actor,
      params.name,
      params.version,
      params.artifact_id,
      params.attachment_id,
    );
  }
}
