import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { countOf, rowsOf } from '../cas/sql-result';
import { decodeCursor } from '../common/pagination';
import type { DeliveryState } from './delivery-plan';
import type { StoredEvent } from './event-payload';

export interface DeliveryLease {
  readonly id: string;
  readonly owner: string;
  readonly attempt: number;
}

export interface DeliveryClaim extends DeliveryLease {
  readonly subscriptionId: string;
  readonly url: string;
  readonly secret: string;
  readonly orderingKey: string | null;
  readonly createdAt: Date;
  /** It was running under another lease that expired: its worker died or lost PostgreSQL. */
  readonly takeover: boolean;
  readonly event: StoredEvent;
}

export interface AttemptOutcome {
  readonly responseCode: number | null;
  readonly latencyMs: number | null;
  readonly error: string | null;
}

export interface DeliveryView {
  readonly id: string;
  readonly subscriptionId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly imageName: string | null;
  readonly occurredAt: Date;
  readonly eventSeq: number;
  readonly state: DeliveryState;
  readonly attemptCount: number;
  readonly nextAttemptAt: Date;
  readonly lastAttemptAt: Date | null;
  readonly lastResponseCode: number | null;
  readonly lastLatencyMs: number | null;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly finishedAt: Date | null;
}

/**
 * What may be attempted now (see delivery-plan.ts, mayAttempt): the subscription is enabled; the
 * delivery is pending and due, or running under an expired lease; and no earlier delivery of the
 * same subscription and ordering key is still open.
 */
const RUNNABLE = `
  s.enabled
  AND ((d.state = 'pending' AND d.next_attempt_at <= now())
       OR (d.state = 'running' AND d.lease_expires_at < now()))
  AND (d.ordering_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM webhook_delivery p
         WHERE p.subscription_id = d.subscription_id AND p.ordering_key = d.ordering_key
           AND p.event_seq < d.event_seq AND p.state IN ('pending', 'running')))`;

const VIEW = `SELECT d.id, d.subscription_id, d.event_id, e.type, e.image_name, e.occurred_at, d.event_seq,
                     d.state, d.attempt_count, d.next_attempt_at, d.last_attempt_at, d.last_response_code,
                     d.last_latency_ms, d.last_error, d.created_at, d.finished_at
                FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id`;

function view(r: Record<string, unknown>): DeliveryView {
  return {
    id: r.id as string,
    subscriptionId: r.subscription_id as string,
    eventId: r.event_id as string,
    eventType: r.type as string,
    imageName: r.image_name as string | null,
    occurredAt: r.occurred_at as Date,
    eventSeq: Number(r.event_seq),
    state: r.state as DeliveryState,
    attemptCount: Number(r.attempt_count),
    nextAttemptAt: r.next_attempt_at as Date,
    lastAttemptAt: r.last_attempt_at as Date | null,
    lastResponseCode: r.last_response_code as number | null,
    lastLatencyMs: r.last_latency_ms as number | null,
    lastError: r.last_error as string | null,
    createdAt: r.created_at as Date,
    finishedAt: r.finished_at as Date | null,
  };
}

const interval = (param: string) => `make_interval(secs => ${param}::double precision / 1000)`;

@Injectable()
export class WebhookDeliveryRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * One delivery per enabled subscription that lists the event's type (or only the subscription
   * named, for a ping), in the event's transaction. Returns their ids.
   */
  async fanOut(
    manager: EntityManager,
    event: { id: string; seq: number; type: string; orderingKey: string | null },
    onlySubscriptionId: string | null,
  ): Promise<string[]> {
    const rows: { id: string }[] = await manager.query(
      `INSERT INTO webhook_delivery (event_id, subscription_id, event_seq, ordering_key)
       SELECT $1::uuid, s.id, $2::bigint, $3::text FROM webhook_subscription s
        WHERE s.enabled AND (CASE WHEN $5::uuid IS NULL THEN $4::text = ANY (s.events) ELSE s.id = $5::uuid END)
       RETURNING id`,
      [event.id, event.seq, event.orderingKey, event.type, onlySubscriptionId],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Claims the delivery if it may be attempted now (FOR UPDATE SKIP LOCKED: a delivery another
   * transaction holds is left to whoever wakes it next) and leases it to `owner`.
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<DeliveryClaim | null> {
    return this.dataSource.transaction(async (manager) => {
      const claimed = rowsOf<Record<string, unknown>>(
        await manager.query(
          `WITH candidate AS (
             SELECT d.id, d.state AS prev_state
               FROM webhook_delivery d JOIN webhook_subscription s ON s.id = d.subscription_id
              WHERE d.id = $1 AND ${RUNNABLE}
                FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_delivery d
              SET state = 'running', attempt_count = d.attempt_count + 1, lease_owner = $2,
                  lease_attempt = d.attempt_count + 1, lease_expires_at = now() + ${interval('$3')},
                  last_attempt_at = now()
             FROM candidate c
            WHERE d.id = c.id
           RETURNING d.id, d.subscription_id, d.event_id, d.ordering_key, d.lease_attempt, d.created_at,
                     c.prev_state`,
          [id, owner, leaseMs],
        ),
      )[0];
      if (!claimed) return null;
      const rows: Record<string, unknown>[] = await manager.query(
        `SELECT s.url, s.secret, e.type, e.occurred_at, e.data
           FROM webhook_subscription s, webhook_event e WHERE s.id = $1 AND e.id = $2`,
        [claimed.subscription_id, claimed.event_id],
      );
      const r = rows[0];
      return {
        id: claimed.id as string,
        owner,
        attempt: Number(claimed.lease_attempt),
        subscriptionId: claimed.subscription_id as string,
        url: r.url as string,
        secret: r.secret as string,
        orderingKey: claimed.ordering_key as string | null,
        createdAt: claimed.created_at as Date,
        takeover: claimed.prev_state === 'running',
        event: {
          id: claimed.event_id as string,
          type: r.type as string,
          occurredAt: r.occurred_at as Date,
          data: r.data as Record<string, unknown>,
        },
      };
    });
  }

  /** Extends a lease still held; false when it was lost. */
  async renew(lease: DeliveryLease, leaseMs: number): Promise<boolean> {
    const result: unknown = await this.dataSource.query(
      `UPDATE webhook_delivery SET lease_expires_at = now() + ${interval('$4')}
        WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND lease_attempt = $3`,
      [lease.id, lease.owner, lease.attempt, leaseMs],
    );
    return countOf(result) > 0;
  }

  /** Locks the delivery if this lease still holds it: the fence before recording an outcome. */
  async holdsLease(manager: EntityManager, lease: DeliveryLease): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM webhook_delivery
        WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND lease_attempt = $3 FOR UPDATE`,
      [lease.id, lease.owner, lease.attempt],
    );
    return rows.length > 0;
  }

  /** Records the outcome of the leased attempt: succeeded, failed for good, or pending again. */
  async finishAttempt(
    manager: EntityManager,
    lease: DeliveryLease,
    next: { state: 'succeeded' | 'failed' } | { state: 'pending'; delayMs: number },
    outcome: AttemptOutcome,
  ): Promise<void> {
    const delayMs = next.state === 'pending' ? next.delayMs : 0;
    await manager.query(
      `UPDATE webhook_delivery
          SET state = $2, lease_owner = NULL, lease_expires_at = NULL,
              finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,
              next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + ${interval('$3')} ELSE next_attempt_at END,
              last_response_code = $4, last_latency_ms = $5, last_error = $6
        WHERE id = $1`,
      [lease.id, next.state, delayMs, outcome.responseCode, outcome.latencyMs, outcome.error],
    );
  }

  /** Whether any delivery of the subscription succeeded at or after `since`. */
  async succeededSince(
    manager: EntityManager,
    subscriptionId: string,
    since: Date,
  ): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM webhook_delivery
        WHERE subscription_id = $1 AND state = 'succeeded' AND finished_at >= $2 LIMIT 1`,
      [subscriptionId, since],
    );
    return rows.length > 0;
  }

  /**
   * Cancels the open deliveries of a subscription (it was disabled). Rows another transaction
   * holds are skipped rather than waited for (no deadlock between two workers disabling the same
   * subscription); the sweeper cancels what is left.
   */
  async cancelOpen(
    manager: EntityManager,
    subscriptionId: string,
    reason: string,
  ): Promise<number> {
    return countOf(
      await manager.query(
        `UPDATE webhook_delivery
            SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                last_error = $2
          WHERE id IN (SELECT id FROM webhook_delivery
                        WHERE subscription_id = $1 AND state IN ('pending', 'running')
                          FOR UPDATE SKIP LOCKED)`,
        [subscriptionId, reason],
      ),
    );
  }

  /** Open deliveries of disabled subscriptions (left by races with the disable), cancelled. */
  async cancelOfDisabled(limit: number): Promise<number> {
    return countOf(
      await this.dataSource.query(
        `UPDATE webhook_delivery
            SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                last_error = 'the subscription is disabled'
          WHERE id IN (SELECT d.id FROM webhook_delivery d
                         JOIN webhook_subscription s ON s.id = d.subscription_id
                        WHERE NOT s.enabled AND d.state IN ('pending', 'running')
                        LIMIT $1 FOR UPDATE OF d SKIP LOCKED)`,
        [limit],
      ),
    );
  }

  /** The earliest open delivery of a subscription's ordering chain, if it is pending. */
  async headOfChain(subscriptionId: string, orderingKey: string): Promise<string | null> {
    const rows: { id: string; state: string }[] = await this.dataSource.query(
      `SELECT id, state FROM webhook_delivery
        WHERE subscription_id = $1 AND ordering_key = $2 AND state IN ('pending', 'running')
        ORDER BY event_seq LIMIT 1`,
      [subscriptionId, orderingKey],
    );
    return rows[0]?.state === 'pending' ? rows[0].id : null;
  }

  /**
   * Deliveries that may be attempted now and may have no live wake-up (sweeper): running ones
   * whose lease expired, and pending ones due and untouched for `minAgeMs`.
   */
  async findRunnable(limit: number, minAgeMs: number): Promise<{ id: string; attempt: number }[]> {
    const rows: { id: string; attempt_count: number }[] = await this.dataSource.query(
      `SELECT d.id, d.attempt_count
         FROM webhook_delivery d JOIN webhook_subscription s ON s.id = d.subscription_id
        WHERE ${RUNNABLE}
          AND (d.state = 'running'
               OR GREATEST(d.updated_at, d.next_attempt_at) < now() - ${interval('$2')})
        ORDER BY d.next_attempt_at
        LIMIT $1`,
      [limit, minAgeMs],
    );
    return rows.map((r) => ({ id: r.id, attempt: Number(r.attempt_count) }));
  }

  async findView(id: string): Promise<DeliveryView | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`${VIEW} WHERE d.id = $1`, [
      id,
    ]);
    return rows[0] ? view(rows[0]) : null;
  }

  /** A subscription's deliveries, newest event first; limit + 1 rows. */
  async listForSubscription(
    subscriptionId: string,
    limit: number,
    cursor?: string,
  ): Promise<DeliveryView[]> {
    const after = decodeCursor(cursor, ['id']);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `${VIEW} WHERE d.subscription_id = $1 AND ($2::bigint IS NULL OR d.event_seq < $2::bigint)
        ORDER BY d.event_seq DESC LIMIT $3`,
      [subscriptionId, after ? String(after[0]) : null, limit + 1],
    );
    return rows.map(view);
  }
}
