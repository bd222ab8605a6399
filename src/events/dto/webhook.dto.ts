import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  MaxLength,
} from 'class-validator';
import { SUBSCRIBABLE_EVENT_TYPES } from '../event-types';
import type { DeliveryView } from '../webhook-delivery.repository';
import type { SubscriptionRow } from '../webhook-subscription.repository';

export class WebhookParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all')
  id!: string;
}

export class WebhookCreateDto {
  @ApiProperty({
    example: 'https://hooks.example.org/imgsrv',
    maxLength: 2048,
    description:
      'http or https, without credentials or fragment. Internal addresses (loopback, private, link-local, unique-local, unspecified, `localhost`) are refused unless the host is in IMGSRV_WEBHOOK_ALLOWED_HOSTS; names are checked again after resolution at every delivery.',
  })
  @IsString()
  @MaxLength(2048)
  url!: string;

  @ApiProperty({
    isArray: true,
    enum: SUBSCRIBABLE_EVENT_TYPES,
    example: ['version.published', 'alias.moved'],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @IsIn(SUBSCRIBABLE_EVENT_TYPES, {
    each: true,
    message: `each event must be one of ${SUBSCRIBABLE_EVENT_TYPES.join(', ')}`,
  })
  events!: string[];

  @ApiPropertyOptional({ maxLength: 500, example: 'release notifications for the CDN' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;
}

export class WebhookPutDto extends WebhookCreateDto {
  @ApiPropertyOptional({
    default: true,
    description:
      'false disables the subscription (its open deliveries are cancelled); true (or absent) enables it again after it was disabled',
  })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class WebhookResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() url!: string;
  @ApiProperty({ isArray: true, enum: SUBSCRIBABLE_EVENT_TYPES }) events!: string[];
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  disabled_at!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why it was disabled: by whom, or the failures that disabled it',
  })
  disabled_reason!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) created_by!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static of(s: SubscriptionRow): WebhookResponseDto {
    return {
      id: s.id,
      url: s.url,
      events: s.events,
      description: s.description,
      enabled: s.enabled,
      disabled_at: s.disabledAt?.toISOString() ?? null,
      disabled_reason: s.disabledReason,
      created_by: s.createdBy,
      created_at: s.createdAt.toISOString(),
      updated_at: s.updatedAt.toISOString(),
    };
  }
}

export class WebhookCreatedResponseDto extends WebhookResponseDto {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description:
      'The Standard Webhooks signing secret (whsec_ + base64). Shown only in this answer: store it now.',
  })
  secret!: string;
}

export class WebhookListResponseDto {
  @ApiProperty({ type: [WebhookResponseDto] }) webhooks!: WebhookResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}

export class DeliveryEventDto {
  @ApiProperty({ format: 'uuid', description: 'Also the webhook-id header of every attempt' })
  id!: string;
  @ApiProperty({ example: 'version.published' }) type!: string;
  @ApiProperty({ type: String, nullable: true }) image!: string | null;
  @ApiProperty({ format: 'date-time' }) occurred_at!: string;
}

export class DeliveryResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) webhook_id!: string;
  @ApiProperty({ type: DeliveryEventDto }) event!: DeliveryEventDto;
  @ApiProperty({
    enum: ['pending', 'running', 'succeeded', 'failed', 'cancelled'],
    description:
      '`pending` waits for its (next) attempt, `running` is being sent, `failed` gave up after the retry window, `cancelled` ended with its subscription disabled',
  })
  status!: string;
  @ApiProperty({ description: 'Attempts made so far' }) attempts!: number;
  @ApiProperty({ type: Number, nullable: true, description: 'Status of the last answer' })
  response_code!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Last attempt: request to answer' })
  latency_ms!: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why the last attempt failed' })
  error!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_attempt_at!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When a pending delivery is due (null once it ended)',
  })
  next_attempt_at!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at!: string | null;

  static of(d: DeliveryView): DeliveryResponseDto {
    return {
      id: d.id,
      webhook_id: d.subscriptionId,
      event: {
        id: d.eventId,
        type: d.eventType,
        image: d.imageName,
        occurred_at: d.occurredAt.toISOString(),
      },
      status: d.state,
      attempts: d.attemptCount,
      response_code: d.lastResponseCode,
      latency_ms: d.lastLatencyMs,
      error: d.lastError,
      last_attempt_at: d.lastAttemptAt?.toISOString() ?? null,
      next_attempt_at: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
      created_at: d.createdAt.toISOString(),
      finished_at: d.finishedAt?.toISOString() ?? null,
    };
  }
}

export class DeliveryListResponseDto {
  @ApiProperty({ type: [DeliveryResponseDto], description: 'Newest event first' })
  deliveries!: DeliveryResponseDto[];
  @ApiProperty({ type: String, nullable: true }) next_cursor!: string | null;
}
