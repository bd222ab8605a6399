import { Body, Controller, Delete, Get, HttpCode, Param, Put } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Actor } from '../auth/actor';
import { CurrentActor, CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';
import { RequireAction } from '../auth/require-action.decorator';
import { ImageParamsDto } from '../catalog/dto/catalog.request.dto';
import { DomainError } from '../common/errors/domain-error';
import { ApiProblems } from '../common/http/api-problems.decorator';
import {
  RetentionEnvelopeDto,
  RetentionPreviewDto,
  RetentionPutDto,
  RetentionResponseDto,
} from './dto/retention.dto';
import { RetentionService } from './retention.service';

@ApiTags('lifecycle')
@ApiBearerAuth('bearer')
@Controller('v1/images/:name/retention')
export class RetentionController {
  constructor(private readonly retention: RetentionService) {}

  @Get()
  @RequireAction('content.read', { imageParam: 'name' })
  @ApiOperation({ summary: "The image's retention policy (retention: null when it has none)" })
  @ApiOkResponse({ type: RetentionEnvelopeDto })
  @ApiProblems(400, 401, 403, 404)
  async getRetention(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ImageParamsDto,
  ): Promise<RetentionEnvelopeDto> {
    const policy = await this.retention.get(principal, params.name);
    return { retention: policy && RetentionResponseDto.of(policy) };
  }

  @Put()
  @RequireAction('content.publish', { imageParam: 'name' })
  @ApiOperation({
    summary:
      'Set the retention policy: keep the newest keep_latest published versions and those ' +
      'published within keep_days (at least one of them), and aliased ones unless keep_aliased ' +
      'is false; workers withdraw the rest with reason "retention" after each publish and on a ' +
      'schedule. The newest published version is always kept.',
  })
  @ApiOkResponse({ type: RetentionEnvelopeDto })
  @ApiProblems(400, 401, 403, 404)
  async putRetention(
    @CurrentActor() actor: Actor,
    @Param() params: ImageParamsDto,
    @Body() body: RetentionPutDto,
  ): Promise<RetentionEnvelopeDto> {
    const keepLatest = body.keep_latest ?? null;
    const keepDays = body.keep_days ?? null;
    if (keepLatest === null && keepDays === null)
      throw DomainError.validation(
        [{ pointer: '/keep_latest', detail: 'keep_latest or keep_days must be set' }],
        'A policy keeps the newest keep_latest versions or those of the last keep_days days.',
      );
    const policy = await this.retention.put(actor, params.name, {
      keepLatest,
      keepDays,
      keepAliased: body.keep_aliased ?? true,
    });
    return { retention: RetentionResponseDto.of(policy) };
  }

  @Delete()
  @HttpCode(204)
  @RequireAction('content.publish', { imageParam: 'name' })
  @ApiOperation({ summary: 'Remove the retention policy (nothing is withdrawn any more)' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404)
  async deleteRetention(
    @CurrentActor() actor: Actor,
    @Param() params: ImageParamsDto,
  ): Promise<void> {
    await this.retention.remove(actor, params.name);
  }

  @Get('preview')
  @RequireAction('content.read', { imageParam: 'name' })
  @ApiOperation({ summary: 'The versions applying the policy would withdraw now' })
  @ApiOkResponse({ type: RetentionPreviewDto })
  @ApiProblems(400, 401, 403, 404)
  async previewRetention(
    @CurrentPrincipal() principal: Principal | null,
    @Param() params: ImageParamsDto,
  ): Promise<RetentionPreviewDto> {
    const due = await this.retention.preview(principal, params.name);
    return { would_withdraw: due.map((c) => c.version) };
  }
}
