import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { DeliveryRunner } from './delivery-runner.service';
import { EventsMetrics } from './events.metrics';
import { EventsProcessor } from './events.processor';
import { EventsQueue, WEBHOOK_QUEUE } from './events.queue';
import { EventsService } from './events.service';
import { EventsSweeper } from './events.sweeper';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookEventRepository } from './webhook-event.repository';
import { WebhookSender } from './webhook-sender';
import { WebhookSubscriptionRepository } from './webhook-subscription.repository';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/**
 * Events and webhooks: the outbox other modules record into (EventsService, global so publish
 * and aliases reach it without importing a configured module), subscriptions, and the delivery
 * workers.
 */
@Module({})
export class EventsModule {
  /** The processor and sweeper run only in processes with the worker role. */
  static register(config: AppConfig): DynamicModule {
    const workerProviders = config.roles.worker ? [EventsProcessor, EventsSweeper] : [];
    return {
      module: EventsModule,
      global: true,
      imports: [BullModule.registerQueue({ name: WEBHOOK_QUEUE })],
      controllers: [WebhooksController],
      providers: [
        EventsService,
        EventsQueue,
        EventsMetrics,
        WebhooksService,
        WebhookEventRepository,
        WebhookDeliveryRepository,
        WebhookSubscriptionRepository,
        DeliveryRunner,
        WebhookSender,
        ...workerProviders,
      ],
      exports: [EventsService],
    };
  }
}
