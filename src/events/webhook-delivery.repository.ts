import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { countOf } from '../cas/sql-result';
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
   * Claims those of the deliveries that may be attempted now (FOR UPDATE SKIP LOCKED: one another
   * transaction holds is left to whoever wakes it next) and leases them to `owner`, in one
   * statement: an event's deliveries are claimed together.
   */
  async claimMany(
    ids: readonly string[],
    owner: string,
    leaseMs: number,
  ): Promise<DeliveryClaim[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `WITH candidate AS (
         SELECT d.id, d.state AS prev_state
           FROM webhook_delivery d JOIN webhook_subscription s ON s.id = d.subscription_id
          WHERE d.id = ANY ($1::uuid[]) AND ${RUNNABLE}
            FOR UPDATE OF d SKIP LOCKED),
       claimed AS (
         UPDATE webhook_delivery d
            SET state = 'running', attempt_count = d.attempt_count + 1, lease_owner = $2,
                lease_attempt = d.attempt_count + 1, lease_expires_at = now() + ${interval('$3')},
                last_attempt_at = now()
           FROM candidate c
          WHERE d.id = c.id
         RETURNING d.id, d.subscription_id, d.event_id, d.ordering_key, d.lease_attempt, d.created_at,
                   c.prev_state)
       SELECT c.*, s.url, s.secret, e.type, e.occurred_at, e.data
         FROM claimed c
         JOIN webhook_subscription s ON s.id = c.subscription_id
         JOIN webhook_event e ON e.id = c.event_id`,
      [ids, owner, leaseMs],
    );
    return rows.map((r) => ({
      id: r.id as string,
      owner,
      attempt: Number(r.lease_attempt),
      subscriptionId: r.subscription_id as string,
      url: r.url as string,
      secret: r.secret as string,
      orderingKey: r.ordering_key as string | null,
      createdAt: r.created_at as Date,
      takeover: r.prev_state === 'running',
      event: {
        id: r.event_id as string,
        type: r.type as string,
        occurredAt: r.occurred_at as Date,
        data: r.data as Record<string, unknown>,
      },
    }));
  }

  async claim(id: string, owner: string, leaseMs: number): Promise<DeliveryClaim | null> {
    return (await this.claimMany([id], owner, leaseMs))[0] ?? null;
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

  /**
   * Records a success or a retry in one fenced statement (no transaction around it): null when
   * the lease no longer holds and nothing was written. For a success, also the delivery that
   * may go next in its ordering chain (the earliest open one after it, if pending).
   */
  async finishIfHeld(
    lease: DeliveryLease,
    next: { state: 'succeeded' } | { state: 'pending'; delayMs: number },
    outcome: AttemptOutcome,
  ): Promise<{ successor: string | null } | null> {
    const delayMs = next.state === 'pending' ? next.delayMs : 0;
    const rows: { next_id: string | null; next_state: string | null }[] =
      await this.dataSource.query(
        `WITH done AS (
           UPDATE webhook_delivery
              SET state = $4, lease_owner = NULL, lease_expires_at = NULL,
                  finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() END,
                  next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + ${interval('$5')} ELSE next_attempt_at END,
                  last_response_code = $6, last_latency_ms = $7, last_error = $8
            WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND lease_attempt = $3
           RETURNING subscription_id, ordering_key, event_seq, state),
         successor AS (
           SELECT n.id, n.state FROM webhook_delivery n, done
            WHERE done.state = 'succeeded' AND n.subscription_id = done.subscription_id
              AND n.ordering_key = done.ordering_key AND n.event_seq > done.event_seq
              AND n.state IN ('pending', 'running')
            ORDER BY n.event_seq LIMIT 1)
         SELECT (SELECT id FROM successor) AS next_id, (SELECT state FROM successor) AS next_state
           FROM done`,
        [
          lease.id,
          lease.owner,
          lease.attempt,
          next.state,
          delayMs,
          outcome.responseCode,
          outcome.latencyMs,
          outcome.error,
        ],
      );
    if (rows.length === 0) return null;
    return { successor: rows[0].next_state === 'pending' ? rows[0].next_id : null };
  }

  /** Records the outcome of the leased attempt (caller holds the fence in `manager`'s transaction). */
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
