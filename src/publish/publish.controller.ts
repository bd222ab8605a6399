import { Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentActor, CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { RequireAction } from '../auth/require-action.decorator';
import { VersionParamsDto } from '../catalog/dto/catalog.request.dto';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import {
  PublishJobListQueryDto,
  PublishJobListResponseDto,
  PublishJobParamsDto,
  PublishJobResponseDto,
} from './dto/publish.dto';
import { PublishService } from './publish.service';

@ApiTags('publish')
@ApiBearerAuth('bearer')
@Controller()
export class PublishController {
  constructor(private readonly publishing: PublishService) {}

  @Post('v1/images/:name/versions/:version/publish')
  @RequireAction('content.publish', { imageParam: 'name' })
  @ApiOperation({
    summary:
      'Publish a draft: 202 with the job (also when repeated while publishing), 200 with the succeeded job once published',
  })
  @ApiAcceptedResponse({ type: PublishJobResponseDto })
  @ApiOkResponse({ type: PublishJobResponseDto, description: 'Already published' })
  @ApiProblems(400, 401, 403, 404, 409)
  async publishVersion(
    @CurrentActor() actor: Actor,
    @Param() params: VersionParamsDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PublishJobResponseDto> {
    const { view, alreadyPublished } = await this.publishing.publish(
      actor,
      params.name,
      params.version,
    );
    void reply.code(alreadyPublished ? 200 : 202);
    return PublishJobResponseDto.of(view);
  }

  @Get('v1/images/:name/versions/:version/publish-job')
  @RequireAction('content.read', { imageParam: 'name' })
  @ApiOperation({ summary: "The version's latest publish job" })
  @ApiOkResponse({ type: PublishJobResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getVersionPublishJob(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: VersionParamsDto,
  ): Promise<PublishJobResponseDto> {
    return PublishJobResponseDto.of(
      await this.publishing.latestJob(principal, params.name, params.version),
    );
  }

  @Get('v1/publish-jobs')
  @RequireAction('content.read')
  @ApiOkResponse({ type: PublishJobListResponseDto })
  @ApiProblems(400, 401, 403)
  async listPublishJobs(
    @CurrentPrincipal() principal: Principal | null,
    @Query() query: PublishJobListQueryDto,
  ): Promise<PublishJobListResponseDto> {
    const page = await this.publishing.listJobs(
      principal,
      query.state,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('publish_jobs', page, (v) => PublishJobResponseDto.of(v));
  }

  @Get('v1/publish-jobs/:job_id')
  @RequireAction('content.read')
  @ApiOkResponse({ type: PublishJobResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getPublishJob(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: PublishJobParamsDto,
  ): Promise<PublishJobResponseDto> {
    return PublishJobResponseDto.of(await this.publishing.getJob(principal, params.job_id));
  }

  @Post('v1/publish-jobs/:job_id/retry')
  @HttpCode(202)
  @RequireAction('content.publish')
  @ApiOperation({ summary: 'Re-run a failed job from its first failed step' })
  @ApiAcceptedResponse({ type: PublishJobResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async retryPublishJob(
    @CurrentActor() actor: Actor,
    @Param() params: PublishJobParamsDto,
  ): Promise<PublishJobResponseDto> {
    return PublishJobResponseDto.of(await this.publishing.retry(actor, params.job_id));
  }

  @Post('v1/publish-jobs/:job_id/cancel')
  @HttpCode(200)
  @RequireAction('content.publish')
  @ApiOperation({
    summary: 'Cancel a failed or not yet started job; the version becomes a draft again',
  })
  @ApiOkResponse({ type: PublishJobResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async cancelPublishJob(
    @CurrentActor() actor: Actor,
    @Param() params: PublishJobParamsDto,
  ): Promise<PublishJobResponseDto> {
    return PublishJobResponseDto.of(await this.publishing.cancel(actor, params.job_id));
  }
}
