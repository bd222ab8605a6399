import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { AcceptsBasicAuth, PublicRead } from '../auth/require-action.decorator';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { ApiStreamsDocument } from '../common/http/api-conditional.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { sendStreamsDocument } from './streams.http';
import { StreamsService, type RenderedDocument } from './streams.service';

@ApiTags('streams')
@ApiBearerAuth('bearer')
@Controller('streams/v1')
export class StreamsController {
  constructor(
    private readonly streams: StreamsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private send(request: FastifyRequest, reply: FastifyReply, doc: RenderedDocument): FastifyReply {
    return sendStreamsDocument(request, reply, doc, this.config.auth.publicRead);
  }

  @Get('index.json')
  @PublicRead()
  @AcceptsBasicAuth()
  @ApiOperation({ summary: 'Simple Streams index (Incus remotes, --protocol=simplestreams)' })
  @ApiStreamsDocument('The index document')
  @ApiProblems(401, 403)
  async getStreamsIndex(
    @CurrentPrincipal() principal: Principal | null,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.send(request, reply, (await this.streams.currentFor(principal)).index);
  }

  @Get('images.json')
  @PublicRead()
  @AcceptsBasicAuth()
  @ApiOperation({
    summary:
      'Simple Streams products: every published, eligible image with its aliases (with public ' +
      'reads off, exactly the images the caller may read)',
  })
  @ApiStreamsDocument('The products document')
  @ApiProblems(401, 403)
  async getStreamsImages(
    @CurrentPrincipal() principal: Principal | null,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<FastifyReply> {
    return this.send(request, reply, (await this.streams.currentFor(principal)).images);
  }
}
