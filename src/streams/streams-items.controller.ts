import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { AcceptsBasicAuth, PublicRead } from '../auth/require-action.decorator';
import { BlobReader } from '../cas/blob-reader';
import { ApiDownload } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DownloadResponder } from '../common/http/download.responder';
import { StreamsItemParamsDto } from './dto/streams-item.params.dto';
import { METADATA_FILENAME } from './streams.projector';
import { StreamsService } from './streams.service';

/**
 * The files the streams documents list, by content address: a metadata tarball or root image
 * that several versions or images ship is one item, fetchable by a reader of any of them.
 */
@ApiTags('streams')
@ApiBearerAuth('bearer')
@Controller('streams/v1/items')
export class StreamsItemsController {
  constructor(
    private readonly streams: StreamsService,
    private readonly blobs: BlobReader,
    private readonly downloads: DownloadResponder,
  ) {}

  @Get(':sha256/:filename')
  @PublicRead()
  @AcceptsBasicAuth()
  @ApiOperation({
    summary:
      'A file the streams documents list (item paths): the bytes of that sha256, when a published ' +
      'version of an image the caller may read ships them under that name (else 404); 410 ' +
      'VERSION_WITHDRAWN once every version that shipped them was withdrawn and purged (or ' +
      'withdrawn immediately)',
  })
  @ApiDownload()
  @ApiProblems(400, 401, 403, 404, 410, 416)
  async downloadStreamsItem(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: StreamsItemParamsDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    const item = await this.streams.locateItem(principal, params.sha256, params.filename);
    const blob = await this.blobs.getBlob(`sha256:${params.sha256}`);
    return this.downloads.send(
      request,
      reply,
      params.filename === METADATA_FILENAME ? 'attachment' : 'artifact',
      {
        digest: blob.digest,
        sizeBytes: blob.sizeBytes,
        mediaType: item.mediaType,
        filename: item.filename,
        lastModified: item.publishedAt,
        immutable: true,
      },
      {
        stream: (range, signal) => this.blobs.openBlob(blob, range, signal),
        file: () => this.blobs.openBlobFile(blob),
      },
    );
  }
}
