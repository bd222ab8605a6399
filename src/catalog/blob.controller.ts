import { Controller, Get, Param, Put, Req, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiTags,
} from '@nestjs/swagger';
import { Matches } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { CurrentActor } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import { AcceptsBasicAuth, PublicRead, RequireAction } from '../auth/require-action.decorator';
import { BlobPut } from '../cas/blob-put';
import { BlobReader } from '../cas/blob-reader';
import { UploadService } from '../cas/upload.service';
import { DomainError } from '../common/errors/domain-error';
import { ApiDownload } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DownloadResponder } from '../common/http/download.responder';
import { contentLength, header, rawBody } from '../common/http/raw-body';
import { CatalogService, safeFilename } from './catalog.service';
import { DIGEST } from './dto/catalog.request.dto';

export class BlobParamsDto {
  @ApiProperty({ pattern: DIGEST.source })
  @Matches(DIGEST, { message: `must match ${DIGEST.source}` })
  digest!: string;
}

/** A blob sent whole (PUT /v1/blobs/{digest}). */
export class BlobPutResponseDto {
  @ApiProperty({ example: 'sha256:…' }) digest!: string;
  @ApiProperty() size_bytes!: number;
  @ApiProperty({
    enum: ['ready', 'verifying'],
    description: '`ready`: trusted now; `verifying`: a worker finishes the check (poll the upload)',
  })
  state!: string;
  @ApiProperty({ format: 'uuid', description: 'The upload session the blob went through' })
  upload_id!: string;
}

/**
 * Raw blobs by digest, for callers who may read a version citing them (anyone, for a published
 * version while public reads are on), or who uploaded them while nothing cites them yet; 404 for
 * everyone else, as for anything they may not see.
 */
@ApiTags('uploads and blobs')
@ApiBearerAuth('bearer')
@Controller('v1/blobs')
export class BlobController {
  constructor(
    private readonly blobs: BlobReader,
    private readonly uploads: UploadService,
    private readonly catalog: CatalogService,
    private readonly downloads: DownloadResponder,
    private readonly put: BlobPut,
  ) {}

  @Put(':digest')
  @RequireAction('content.write')
  @ApiOperation({
    summary:
      'Upload a whole blob in one request (raw body, ≤ IMGSRV_BLOB_PUT_MAX_SIZE, default 64 MiB): 201 once verified, 200 when already trusted (the body is not read), 202 while a worker finishes verifying',
  })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiHeader({ name: 'Content-Length', required: true })
  @ApiHeader({
    name: 'Content-Digest',
    required: false,
    description: 'sha-256=:<base64>: — verified (422 on mismatch)',
  })
  @ApiCreatedResponse({ type: BlobPutResponseDto, description: 'Uploaded and trusted' })
  @ApiOkResponse({ type: BlobPutResponseDto, description: 'Already trusted: nothing was read' })
  @ApiAcceptedResponse({
    type: BlobPutResponseDto,
    description: 'Received; a worker finishes verifying (GET /v1/uploads/{upload_id})',
  })
  @ApiProblems(400, 401, 403, 404, 409, 411, 413, 415, 422, 507)
  async putBlob(
    @CurrentActor() actor: Actor,
    @Param() params: BlobParamsDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<BlobPutResponseDto> {
    const { session, created } = await this.put.put(
      {
        digest: params.digest,
        body: rawBody(request, 'A blob'),
        contentLength: contentLength(request),
        contentDigest: header(request, 'content-digest') ?? null,
      },
      actor,
    );
    const ready = session.state === 'ready';
    void reply.code(!created ? 200 : ready ? 201 : 202);
    if (ready) void reply.header('location', `/v1/blobs/${session.expectedDigest}`);
    return {
      digest: session.expectedDigest,
      size_bytes: session.expectedSizeBytes,
      state: ready ? 'ready' : 'verifying',
      upload_id: session.id,
    };
  }

  @Get(':digest')
  @PublicRead()
  @AcceptsBasicAuth()
  @ApiOperation({ summary: 'A trusted blob (GET and HEAD; single range, conditional requests)' })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 416)
  async getBlob(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: BlobParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const access = await this.catalog.blobAccess(principal, params.digest, (id) =>
      this.uploads.uploadedBy(id, params.digest),
    );
    if (!access) throw new DomainError('BLOB_NOT_FOUND', `No trusted blob ${params.digest}.`);
    const blob = await this.blobs.getBlob(params.digest);
    return this.downloads.send(
      request,
      reply,
      'blob',
      {
        digest: blob.digest,
        sizeBytes: blob.sizeBytes,
        mediaType: 'application/octet-stream',
        filename: safeFilename(blob.digest.replace(':', '-')),
        lastModified: blob.createdAt,
        immutable: access.published,
      },
      {
        stream: (range, signal) => this.blobs.openBlob(blob, range, signal),
        file: () => this.blobs.openBlobFile(blob),
      },
    );
  }
}
