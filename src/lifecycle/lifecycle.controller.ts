import { Body, Controller, Delete, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-principal.decorator';
import { RequireAction } from '../auth/require-action.decorator';
import { ImageParamsDto, VersionParamsDto } from '../catalog/dto/catalog.request.dto';
import { VersionResponseDto } from '../catalog/dto/catalog.response.dto';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { WithdrawDto } from './dto/withdraw.dto';
import { ImageDeletionService } from './image-deletion.service';
import { WithdrawalService } from './withdrawal.service';

@ApiTags('lifecycle')
@ApiBearerAuth('bearer')
@Controller('v1/images/:name')
export class LifecycleController {
  constructor(
    private readonly withdrawals: WithdrawalService,
    private readonly images: ImageDeletionService,
  ) {}

  @Delete()
  @HttpCode(204)
  @RequireAction('content.write', { imageParam: 'name' })
  @ApiOperation({
    summary:
      'Delete an image whose versions are all drafts or withdrawn (409 IMAGE_NOT_EMPTY otherwise), ' +
      'with its versions, aliases and retention policy; its blobs are left to the garbage collector',
  })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404, 409)
  async deleteImage(@CurrentActor() actor: Actor, @Param() params: ImageParamsDto): Promise<void> {
    await this.images.delete(actor, params.name);
  }

  @Post('versions/:version/withdraw')
  @HttpCode(200)
  @RequireAction('content.publish', { imageParam: 'name' })
  @ApiOperation({
    summary:
      'Withdraw a published version (terminal): it leaves the streams documents at once; its ' +
      'downloads keep working until it is purged after IMGSRV_WITHDRAW_GRACE, or stop at once ' +
      'with immediate. 409 VERSION_ALIASED names the aliases that point at it unless ' +
      'move_aliases_to names where they go. Repeating it answers the withdrawn version.',
  })
  @ApiOkResponse({ type: VersionResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async withdrawVersion(
    @CurrentActor() actor: Actor,
    @Param() params: VersionParamsDto,
    @Body() body: WithdrawDto,
  ): Promise<VersionResponseDto> {
    return VersionResponseDto.of(
      await this.withdrawals.withdraw(actor, params.name, params.version, {
        reason: body.reason,
        immediate: body.immediate ?? false,
        moveAliasesTo: body.move_aliases_to,
      }),
    );
  }
}
