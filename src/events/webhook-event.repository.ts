import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export interface InsertedEvent {
  readonly id: string;
  readonly seq: number;
  readonly occurredAt: Date;
}

/** The outbox: events written in the transaction of the change they report. */
@Injectable()
export class WebhookEventRepository {
  /**
   * Serializes the events of one ordering key until the caller's transaction ends, so that
   * within a key the sequence numbers taken after it follow commit order.
   */
  async lockOrderingKey(manager: EntityManager, key: string): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `imgsrv.webhook_event:${key}`,
    ]);
  }

  async insert(
    manager: EntityManager,
    event: {
      type: string;
      orderingKey: string | null;
      imageName: string | null;
      data: Record<string, unknown>;
    },
  ): Promise<InsertedEvent> {
    const rows: { id: string; seq: string; occurred_at: Date }[] = await manager.query(
      `INSERT INTO webhook_event (type, ordering_key, image_name, data) VALUES ($1, $2, $3, $4)
       RETURNING id, seq, occurred_at`,
      [event.type, event.orderingKey, event.imageName, JSON.stringify(event.data)],
    );
    return { id: rows[0].id, seq: Number(rows[0].seq), occurredAt: rows[0].occurred_at };
  }

  /**
   * The display name of a principal, for events a worker records on someone's behalf (a publish
   * finished for the principal who asked): read from auth's table as it is at that moment.
   */
  async principalName(manager: EntityManager, principalId: string): Promise<string | null> {
    const rows: { display_name: string }[] = await manager.query(
      `SELECT display_name FROM principal WHERE id = $1`,
      [principalId],
    );
    return rows[0]?.display_name ?? null;
  }
}
