import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import { pingData } from './event-payload';
import { PING } from './event-types';
import { EventsService } from './events.service';
import { WebhookDeliveryRepository, type DeliveryView } from './webhook-delivery.repository';
import {
  WebhookSubscriptionRepository,
  type SubscriptionFields,
  type SubscriptionRow,
} from './webhook-subscription.repository';
import { targetProblem } from './webhook-target';

/**
 * A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes (the specification
 * allows 24 to 64), as the standardwebhooks library takes it.
 */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The origin of a URL, which audit details and logs keep (paths often carry a token). */
const originOf = (url: string) => new URL(url).origin;

/** Webhook subscriptions: create (the secret shown once), read, replace, delete, ping. */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly subscriptions: WebhookSubscriptionRepository,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly events: EventsService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(
    actor: Actor,
    fields: SubscriptionFields,
  ): Promise<{ row: SubscriptionRow; secret: string }> {
    this.checkTarget(fields.url);
    const secret = newWebhookSecret();
    const row = await this.dataSource.transaction(async (manager) => {
      const created = await this.subscriptions.insert(manager, {
        ...fields,
        events: unique(fields.events),
        secret,
        createdBy: actor.principal?.id ?? null,
      });
      await this.audit.record(manager, {
        actor,
        action: 'webhook.create',
        targetType: 'webhook_subscription',
        targetId: created.id,
        detail: { url_origin: originOf(created.url), events: created.events },
      });
      return created;
    });
    return { row, secret };
  }

  async list(limit: number, cursor?: string): Promise<Page<SubscriptionRow>> {
    const rows = await this.subscriptions.list(limit, cursor);
    return pageOf(rows, limit, (s) => [s.createdAt.toISOString(), s.id]);
  }

  async get(id: string): Promise<SubscriptionRow> {
    const row = await this.subscriptions.find(id);
    if (!row) throw notFound(id);
    return row;
  }

  /**
   * Replaces the subscription's URL, events, description and enabled flag. Enabling a disabled
   * subscription clears why it was disabled; disabling one cancels its open deliveries.
   */
  async replace(
    actor: Actor,
    id: string,
    fields: SubscriptionFields & { enabled: boolean },
  ): Promise<SubscriptionRow> {
    this.checkTarget(fields.url);
    return this.dataSource.transaction(async (manager) => {
      const before = await this.subscriptions.find(id, manager, true);
      if (!before) throw notFound(id);
      const who = actor.principal?.displayName ?? actor.system ?? 'an operator';
      const row = await this.subscriptions.replace(manager, id, {
        ...fields,
        events: unique(fields.events),
        disabledReason: `disabled by ${who}`,
      });
      if (before.enabled && !row.enabled)
        await this.deliveries.cancelOpen(manager, id, 'the subscription was disabled');
      await this.audit.record(manager, {
        actor,
        action: 'webhook.update',
        targetType: 'webhook_subscription',
        targetId: id,
        detail: {
          url_origin: originOf(row.url),
          events: row.events,
          enabled: row.enabled,
          was_enabled: before.enabled,
        },
      });
      return row;
    });
  }

  async delete(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const before = await this.subscriptions.find(id, manager, true);
      if (!before) throw notFound(id);
      await this.subscriptions.delete(manager, id);
      await this.audit.record(manager, {
        actor,
        action: 'webhook.delete',
        targetType: 'webhook_subscription',
        targetId: id,
        detail: { url_origin: originOf(before.url), events: before.events },
      });
    });
  }

  /** Records a `ping` event for this subscription alone and wakes a worker: 202. */
  async ping(actor: Actor, id: string): Promise<DeliveryView> {
    const recorded = await this.dataSource.transaction(async (manager) => {
      const row = await this.subscriptions.find(id, manager, true);
      if (!row) throw notFound(id);
      if (!row.enabled)
        throw new DomainError(
          'WEBHOOK_DISABLED',
          `Webhook ${id} is disabled (${row.disabledReason ?? 'no reason recorded'}); enable it with PUT first.`,
        );
      const event = await this.events.record(manager, {
        type: PING,
        imageName: null,
        data: pingData(id, this.events.actorOf(actor)),
        onlySubscriptionId: id,
      });
      await this.audit.record(manager, {
        actor,
        action: 'webhook.test',
        targetType: 'webhook_subscription',
        targetId: id,
        detail: { event_id: event.eventId },
      });
      return event;
    });
    await this.events.wake(recorded);
    const delivery = await this.deliveries.findView(recorded.deliveryIds[0]);
    if (!delivery) throw notFound(id);
    return delivery;
  }

  async listDeliveries(id: string, limit: number, cursor?: string): Promise<Page<DeliveryView>> {
    await this.get(id);
    const rows = await this.deliveries.listForSubscription(id, limit, cursor);
    return pageOf(rows, limit, (d) => [d.eventSeq]);
  }

  private checkTarget(url: string): void {
    const { allowedHosts, onlyAllowedHosts } = this.config.webhooks;
    const problem = targetProblem(url, allowedHosts, onlyAllowedHosts);
    if (!problem) return;
    const errors = [{ pointer: '/url', detail: problem.detail }];
    if (problem.kind === 'malformed') throw DomainError.validation(errors);
    throw new DomainError('WEBHOOK_TARGET_NOT_ALLOWED', `url: ${problem.detail}`, { errors });
  }
}

function notFound(id: string): DomainError {
  return new DomainError('WEBHOOK_NOT_FOUND', `No webhook subscription has id ${id}.`);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
