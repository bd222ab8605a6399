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
import { CurrentActor } from '../auth/current-principal.decorator';
import type { Actor } from '../auth/actor';
import { RequireAction } from '../auth/require-action.decorator';
import { ApiProblems } from '../common/http/api-problems.decorator';
import { PaginationQueryDto } from '../common/http/pagination.query.dto';
import { DEFAULT_PAGE_SIZE, pageResponse } from '../common/pagination';
import {
  DeliveryListResponseDto,
  DeliveryResponseDto,
  WebhookCreateDto,
  WebhookCreatedResponseDto,
  WebhookListResponseDto,
  WebhookParamsDto,
  WebhookPutDto,
  WebhookResponseDto,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiBearerAuth('bearer')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Get()
  @RequireAction('webhook.manage')
  @ApiOkResponse({ type: WebhookListResponseDto })
  @ApiProblems(400, 401, 403)
  async listWebhooks(@Query() query: PaginationQueryDto): Promise<WebhookListResponseDto> {
    const page = await this.webhooks.list(query.limit ?? DEFAULT_PAGE_SIZE, query.cursor);
    return pageResponse('webhooks', page, (s) => WebhookResponseDto.of(s));
  }

  @Post()
  @RequireAction('webhook.manage')
  @ApiOperation({
    summary: 'Subscribe a URL to events; the answer carries the signing secret, shown only once',
  })
  @ApiCreatedResponse({ type: WebhookCreatedResponseDto })
  @ApiProblems(400, 401, 403)
  async createWebhook(
    @CurrentActor() actor: Actor,
    @Body() body: WebhookCreateDto,
  ): Promise<WebhookCreatedResponseDto> {
    const { row, secret } = await this.webhooks.create(actor, {
      url: body.url,
      events: body.events,
      description: body.description ?? null,
    });
    return { ...WebhookResponseDto.of(row), secret };
  }

  @Get(':id')
  @RequireAction('webhook.manage')
  @ApiOkResponse({ type: WebhookResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async getWebhook(@Param() params: WebhookParamsDto): Promise<WebhookResponseDto> {
    return WebhookResponseDto.of(await this.webhooks.get(params.id));
  }

  @Put(':id')
  @RequireAction('webhook.manage')
  @ApiOperation({
    summary:
      'Replace the URL, events, description and enabled flag (the secret stays); enables a disabled subscription again unless enabled is false',
  })
  @ApiOkResponse({ type: WebhookResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async putWebhook(
    @CurrentActor() actor: Actor,
    @Param() params: WebhookParamsDto,
    @Body() body: WebhookPutDto,
  ): Promise<WebhookResponseDto> {
    return WebhookResponseDto.of(
      await this.webhooks.replace(actor, params.id, {
        url: body.url,
        events: body.events,
        description: body.description ?? null,
        enabled: body.enabled ?? true,
      }),
    );
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireAction('webhook.manage')
  @ApiOperation({ summary: 'Delete the subscription and its deliveries' })
  @ApiNoContentResponse()
  @ApiProblems(400, 401, 403, 404)
  async deleteWebhook(
    @CurrentActor() actor: Actor,
    @Param() params: WebhookParamsDto,
  ): Promise<void> {
    await this.webhooks.delete(actor, params.id);
  }

  @Post(':id/test')
  @HttpCode(202)
  @RequireAction('webhook.manage')
  @ApiOperation({ summary: 'Send a `ping` event to this subscription alone' })
  @ApiAcceptedResponse({ type: DeliveryResponseDto })
  @ApiProblems(400, 401, 403, 404, 409)
  async testWebhook(
    @CurrentActor() actor: Actor,
    @Param() params: WebhookParamsDto,
  ): Promise<DeliveryResponseDto> {
    return DeliveryResponseDto.of(await this.webhooks.ping(actor, params.id));
  }

  @Get(':id/deliveries')
  @RequireAction('webhook.manage')
  @ApiOperation({ summary: 'The deliveries of this subscription, newest event first' })
  @ApiOkResponse({ type: DeliveryListResponseDto })
  @ApiProblems(400, 401, 403, 404)
  async listWebhookDeliveries(
    @Param() params: WebhookParamsDto,
    @Query() query: PaginationQueryDto,
  ): Promise<DeliveryListResponseDto> {
    const page = await this.webhooks.listDeliveries(
      params.id,
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
    return pageResponse('deliveries', page, (d) => DeliveryResponseDto.of(d));
  }
}
