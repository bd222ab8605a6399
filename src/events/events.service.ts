import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Actor } from '../auth/actor';
import type { EventActor } from './event-payload';
import { orderingKey, type DeliveredEventType } from './event-types';
import { EventsQueue } from './events.queue';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookEventRepository } from './webhook-event.repository';

export interface EventInput {
  readonly type: DeliveredEventType;
  /** The image the event is about (orders it among that image's events), if any. */
  readonly imageName: string | null;
  /** What orders the event when it is not an image (a remote's name); defaults to the image. */
  readonly orderingSubject?: string | null;
  readonly data: Record<string, unknown>;
  /** Deliver to this subscription only, whatever it lists (a ping). */
  readonly onlySubscriptionId?: string;
}

/** What the caller wakes workers for once its transaction committed. */
export interface RecordedEvent {
  readonly eventId: string;
  readonly deliveryIds: readonly string[];
}

/**
 * The outbox: other modules record their events here, inside the transaction of the change the
 * event reports, and wake the delivery workers after it committed. Recording writes the event and
 * one delivery per subscription that wants it; nothing leaves the server inside a transaction.
 */
@Injectable()
export class EventsService {
  constructor(
    private readonly events: WebhookEventRepository,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly queue: EventsQueue,
  ) {}

  async record(manager: EntityManager, input: EventInput): Promise<RecordedEvent> {
    const key = orderingKey(input.type, input.orderingSubject ?? input.imageName);
    if (key !== null) await this.events.lockOrderingKey(manager, key);
    const event = await this.events.insert(manager, {
      type: input.type,
      orderingKey: key,
      imageName: input.imageName,
      data: input.data,
    });
    const deliveryIds = await this.deliveries.fanOut(
      manager,
      { id: event.id, seq: event.seq, type: input.type, orderingKey: key },
      input.onlySubscriptionId ?? null,
    );
    return { eventId: event.id, deliveryIds };
  }

  /**
   * Wakes delivery workers for recorded events, one wake-up per event for all its deliveries;
   * call after the transaction committed.
   */
  async wake(...recorded: (RecordedEvent | null | undefined)[]): Promise<void> {
    for (const r of recorded)
      if (r && r.deliveryIds.length > 0) await this.queue.wake(r.deliveryIds, `${r.eventId}_new`);
  }

  /** The actor of a request, as events name it. */
  actorOf(actor: Actor): EventActor {
    return {
      principalId: actor.principal?.id ?? null,
      name: actor.principal?.displayName ?? actor.system ?? null,
    };
  }

  /** The actor of work done on a principal's behalf (a worker finishing their publish). */
  async actorById(manager: EntityManager, principalId: string | null): Promise<EventActor> {
    if (principalId === null) return { principalId: null, name: null };
    return { principalId, name: await this.events.principalName(manager, principalId) };
  }
}
