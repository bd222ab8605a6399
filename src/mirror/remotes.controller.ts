import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-principal.decorator';
import { RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { PaginationQueryDto } from '../common/http/pagination.query.dto';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import {
  RemoteCreateDto,
  RemoteListResponseDto,
  RemoteParamsDto,
  RemotePutDto,
  RemoteResponseDto,
  SyncDetailResponseDto,
  SyncItemResponseDto,
  SyncListResponseDto,
  SyncParamsDto,
  SyncResponseDto,
} from './dto/remote.dto';
import { RemotesService, type RemoteInput } from './remotes.service';

const DEFAULT_TEMPLATE = '{os}-{release}';

function inputOf(name: string, body: RemoteCreateDto): RemoteInput {
  return {
    name,
    url: body.url,
    caPem: body.ca_pem ?? null,
    username: body.username ?? null,
    password: body.password,
    filters: { ...(body.filters ?? {}) },
    imageNameTemplate: body.image_name_template ?? DEFAULT_TEMPLATE,
    schedule: body.schedule ?? null,
    keepLatest: body.keep_latest ?? null,
    concurrency: body.concurrency ?? 2,
    bandwidthLimitBps: body.bandwidth_limit_bytes_per_second ?? null,
  };
}

@ApiTags('remotes')
@ApiBearerAuth('bearer')
@Controller('v1/remotes')
export class RemotesController {
  constructor(private readonly remotes: RemotesService) {}

  @Get()
  @RequireAction('remote.manage')
  @ApiOkResponse({ type: RemoteListResponseDto })
  @ApiProblems(400, 401, 403)
  async listRemotes(@Query() query: PaginationQueryDto): Promise<RemoteListResponseDto> {
    const page = await this.remotes.list(query.limit ?? DEFAULT_PAGE_SIZE, query.cursor);
    return pageResponse('remotes', page, (r) => RemoteResponseDto.of(r));
  }

  @Post()
  @RequireAction('remote.manage')
  @ApiOperation({
    summary: 'Add an upstream Simple Streams server to mirror (its password is never answered)',
  })
  @ApiCreatedResponse({ type: RemoteResponseDto })
  @ApiProblems(400, 401, 403, 409)
  async createRemote(
    @CurrentActor() actor: Actor,
    @Body() body: RemoteCreateDto,
  ): Promise<RemoteResponseDto> {
    return RemoteResponseDto.of(await this.remotes.create(actor, inputOf(body.name, body)));
  }

  @Get(':name')
  @RequireAction('remote.manage')
  @ApiOkResponse({ type: RemoteResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getRemote(@Param() params: RemoteParamsDto): Promise<RemoteResponseDto> {
    return RemoteResponseDto.of(await this.remotes.get(params.name));
  }

  @Put(':name')
  @RequireAction('remote.manage')
  @ApiOperation({
    summary:
      'Replace the remote’s settings (the body’s name must be the path’s); a left-out password is kept',
  })
  @ApiOkResponse({ type: RemoteResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async putRemote(
    @CurrentActor() actor: Actor,
    @Param() params: RemoteParamsDto,
    @Body() body: RemotePutDto,
  ): Promise<RemoteResponseDto> {
    return RemoteResponseDto.of(
      await this.remotes.replace(actor, params.name, inputOf(params.name, body), body.name),
    );
  }

  @Delete(':name')
  @HttpCode(204)
  @RequireAction('remote.manage')
  @ApiOperation({
    summary: 'Delete the remote and its sync history; the images it mirrored stay',
  })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 409)
  async deleteRemote(
    @CurrentActor() actor: Actor,
    @Param() params: RemoteParamsDto,
  ): Promise<void> {
    await this.remotes.delete(actor, params.name);
  }

  @Post(':name/sync')
  @HttpCode(202)
  @RequireAction('remote.manage')
  @ApiOperation({
    summary: 'Start a sync; answers the queued or running one when the remote has one already',
  })
  @ApiAcceptedResponse({ type: SyncResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async syncRemote(
    @CurrentActor() actor: Actor,
    @Param() params: RemoteParamsDto,
  ): Promise<SyncResponseDto> {
    return SyncResponseDto.of((await this.remotes.startSync(actor, params.name)).sync);
  }

  @Get(':name/syncs')
  @RequireAction('remote.manage')
  @ApiOperation({ summary: 'The remote’s syncs, newest first' })
  @ApiOkResponse({ type: SyncListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listSyncs(
    @Param() params: RemoteParamsDto,
    @Query() query: PaginationQueryDto,
  ): Promise<SyncListResponseDto> {
    const page = await this.remotes.listSyncs(
      params.name,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('syncs', page, (s) => SyncResponseDto.of(s));
  }

  @Get(':name/syncs/:sync_id')
  @RequireAction('remote.manage')
  @ApiOperation({ summary: 'One sync with the outcome of every upstream file and version' })
  @ApiOkResponse({ type: SyncDetailResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getSync(@Param() params: SyncParamsDto): Promise<SyncDetailResponseDto> {
    const { sync, items } = await this.remotes.getSync(params.name, params.sync_id);
    return { ...SyncResponseDto.of(sync), items: items.map((i) => SyncItemResponseDto.of(i)) };
  }

  @Post(':name/syncs/:sync_id/cancel')
  @HttpCode(200)
  @RequireAction('remote.manage')
  @ApiOperation({
    summary:
      'Cancel a sync: a queued one at once, a running one at its next step (cancel_requested until then)',
  })
  @ApiOkResponse({ type: SyncResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async cancelSync(
    @CurrentActor() actor: Actor,
    @Param() params: SyncParamsDto,
  ): Promise<SyncResponseDto> {
    return SyncResponseDto.of(await this.remotes.cancelSync(actor, params.name, params.sync_id));
  }
}
