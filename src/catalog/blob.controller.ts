import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { AcceptsBasicAuth, PublicRead } from '../auth/require-action.decorator';
import { BlobReader } from '../cas/blob-reader';
import { UploadService } from '../cas/upload.service';
import { DomainError } from '../common/errors/domain-error';
import { ApiDownload } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DownloadResponder } from '../common/http/download.responder';
import { CatalogService, safeFilename } from './catalog.service';
import { DIGEST } from './dto/catalog.request.dto';

export class BlobParamsDto {
  @ApiProperty({ pattern: DIGEST.source })
  @Matches(DIGEST, { message: `must match ${DIGEST.source}` })
  digest!: string;
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
  ) {}

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
