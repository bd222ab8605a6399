import { Body, Controller, Get, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentActor } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import { RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { contentLength, header, rawBody } from '../common/http/raw-body';
import { PartReceiver } from './part-receiver';
import { UploadService } from './upload.service';
import {
  UploadCompleteDto,
  UploadCreateDto,
  UploadParamsDto,
  UploadPartParamsDto,
  UploadPartResponseDto,
  UploadSessionResponseDto,
} from './dto/upload.dto';

@ApiTags('uploads and blobs')
@ApiBearerAuth('bearer')
@Controller('v1/uploads')
export class UploadController {
  constructor(
    private readonly uploads: UploadService,
    private readonly parts: PartReceiver,
  ) {}

  @Post()
  @RequireAction('content.write')
  @ApiOperation({
    summary:
      'Begin an upload: 201 with a new session, or 200 with a ready session when the digest is already trusted',
  })
  @ApiCreatedResponse({ type: UploadSessionResponseDto })
  @ApiOkResponse({
    type: UploadSessionResponseDto,
    description: 'Already trusted: nothing to upload',
  })
  @ApiProblems(400, 401, 403, 409)
  async createUpload(
    @CurrentActor() actor: Actor,
    @Body() body: UploadCreateDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UploadSessionResponseDto> {
    const { session, created } = await this.uploads.begin(
      {
        expectedDigest: body.expected_digest,
        expectedSizeBytes: body.expected_size_bytes,
        mediaTypeHint: body.media_type_hint ?? null,
        filenameHint: body.filename_hint ?? null,
      },
      actor,
    );
    void reply.code(created ? 201 : 200);
    return UploadSessionResponseDto.of(session);
  }

  @Get(':upload_id')
  @RequireAction('content.read')
  @ApiOperation({ summary: 'The session with the parts received so far' })
  @ApiOkResponse({ type: UploadSessionResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getUpload(
    @CurrentActor() actor: Actor,
    @Param() params: UploadParamsDto,
  ): Promise<UploadSessionResponseDto> {
    return UploadSessionResponseDto.of(await this.uploads.getSession(params.upload_id, actor));
  }

  @Put(':upload_id/parts/:part_number')
  @RequireAction('content.write')
  @ApiOperation({
    summary: 'Send one part (raw body, streamed; ≤ 5 GiB; re-sending a number replaces the part)',
  })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'Content-Length', required: true })
  @ApiHeader({
    name: 'Content-Digest',
    required: false,
    description: 'sha-256=:<base64>: — verified (422 on mismatch)',
  })
  @ApiOkResponse({ type: UploadPartResponseDto })
  @ApiProblems(400, 401, 403, 404, 409, 411, 413, 415, 422, 507)
  async putUploadPart(
    @CurrentActor() actor: Actor,
    @Param() params: UploadPartParamsDto,
    @Req() request: FastifyRequest,
  ): Promise<UploadPartResponseDto> {
    const part = await this.parts.putPart(
      {
        uploadId: params.upload_id,
        partNumber: Number(params.part_number),
        body: rawBody(request, 'A part'),
        contentLength: contentLength(request),
        contentDigest: header(request, 'content-digest') ?? null,
      },
      actor,
    );
    return {
      upload_id: part.uploadId,
      part_number: part.partNumber,
      etag: part.etag,
      size_bytes: part.sizeBytes,
    };
  }

  @Post(':upload_id/complete')
  @HttpCode(200)
  @RequireAction('content.write')
  @ApiOperation({
    summary:
      'Complete: the server verifies digest and size (422 and session failed on mismatch); repeating returns the session',
  })
  @ApiOkResponse({ type: UploadSessionResponseDto })
  @ApiProblems(400, 401, 403, 404, 409, 422)
  async completeUpload(
    @CurrentActor() actor: Actor,
    @Param() params: UploadParamsDto,
    @Body() body: UploadCompleteDto,
  ): Promise<UploadSessionResponseDto> {
    const parts = body.parts.map((p) => ({
      number: p.number,
      etag: p.etag,
      sizeBytes: p.size_bytes,
    }));
    return UploadSessionResponseDto.of(await this.uploads.complete(params.upload_id, parts, actor));
  }

  @Post(':upload_id/abort')
  @HttpCode(200)
  @RequireAction('content.write')
  @ApiOperation({ summary: 'Abort (idempotent); staged bytes are freed' })
  @ApiOkResponse({ type: UploadSessionResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async abortUpload(
    @CurrentActor() actor: Actor,
    @Param() params: UploadParamsDto,
  ): Promise<UploadSessionResponseDto> {
    return UploadSessionResponseDto.of(await this.uploads.abort(params.upload_id, actor));
  }
}
