import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { afterFailure } from './delivery-plan';
import { EventsMetrics } from './events.metrics';
import { EventsQueue } from './events.queue';
import {
  WebhookDeliveryRepository,
  type AttemptOutcome,
  type DeliveryClaim,
} from './webhook-delivery.repository';
import { WebhookSender, type SendOutcome } from './webhook-sender';
import { WebhookSubscriptionRepository } from './webhook-subscription.repository';

/** The lease of this attempt was lost (it expired and another worker took the delivery). */
class DeliveryLeaseLost extends Error {
  constructor(id: string) {
    super(`lost the lease of webhook delivery ${id}`);
    this.name = 'DeliveryLeaseLost';
  }
}

/** Identifies this process's delivery leases: node, pid and a per-start run id. */
export const DELIVERY_WORKER_ID = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** Who disables a subscription that kept failing, in the audit log. */
const SYSTEM_ACTOR = { principal: null, requestId: null, system: 'system:webhooks' } as const;

/**
 * Runs webhook deliveries in a worker: claims a delivery in PostgreSQL (due, its subscription
 * enabled, no earlier event of its chain open), renews its lease by heartbeat while the attempt
 * runs, and records the outcome only while the lease still holds. A worker that dies leaves a
 * lease that expires; the sweeper then hands the delivery to another worker, which sends it again
 * (at least once: receivers deduplicate by webhook-id).
 */
@Injectable()
export class DeliveryRunner {
  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly subscriptions: WebhookSubscriptionRepository,
    private readonly sender: WebhookSender,
    private readonly queue: EventsQueue,
    private readonly metrics: EventsMetrics,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Claims and attempts the delivery if it may go now. Returns whether it attempted it. */
  async run(deliveryId: string, owner = DELIVERY_WORKER_ID): Promise<boolean> {
    return (await this.runMany([deliveryId], owner)) > 0;
  }

  /**
   * Claims those of the deliveries that may go now, in one statement, and attempts them side by
   * side, at most IMGSRV_WEBHOOK_CONCURRENCY at once. Returns how many it attempted.
   */
  async runMany(deliveryIds: readonly string[], owner = DELIVERY_WORKER_ID): Promise<number> {
    const { leaseMs, concurrency } = this.config.webhooks;
    const claims = await this.deliveries.claimMany(deliveryIds, owner, leaseMs);
    const queue = [...claims];
    await Promise.all(
      Array.from({ length: Math.min(queue.length, concurrency) }, async () => {
        for (let claim = queue.shift(); claim !== undefined; claim = queue.shift())
          await this.attempt(claim);
      }),
    );
    return claims.length;
  }

  private async attempt(claim: DeliveryClaim): Promise<void> {
    const { leaseMs } = this.config.webhooks;
    const log = this.logger.child({
      deliveryId: claim.id,
      eventId: claim.event.id,
      eventType: claim.event.type,
      attempt: claim.attempt,
    });
    if (claim.takeover) {
      this.metrics.takeovers.inc();
      log.info('took over an expired webhook delivery lease');
      // Attempts that never finished (their worker died each time) end with the window too: a
      // delivery that kills its worker must not be taken over forever.
      if (Date.now() >= claim.createdAt.getTime() + this.config.webhooks.retryForMs) {
        const error =
          'the retry window is over and the last attempt did not finish (its worker stopped or lost its lease)';
        await this.recordSafely(
          claim,
          { delivered: false, responseCode: null, latencyMs: 0, error },
          log,
        );
        return;
      }
    }

    const lost = new AbortController();
    let renewing = false;
    const heartbeat = setInterval(
      () => {
        if (renewing) return;
        renewing = true;
        this.deliveries
          .renew(claim, leaseMs)
          .then(
            (held) => {
              if (!held) lost.abort(new DeliveryLeaseLost(claim.id));
            },
            (error: unknown) =>
              log.warn({ err: { message: (error as Error).message } }, 'lease renewal failed'),
          )
          .finally(() => (renewing = false));
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    let outcome: SendOutcome;
    try {
      outcome = await this.sender.send(claim.url, claim.secret, claim.event, lost.signal);
    } finally {
      clearInterval(heartbeat);
    }
    if (lost.signal.aborted) {
      this.metrics.attempts.inc({ outcome: 'lease_lost' });
      log.warn('lost the webhook delivery lease; discarding this attempt');
      return;
    }
    this.metrics.latency.observe(
      { delivered: String(outcome.delivered) },
      outcome.latencyMs / 1000,
    );
    await this.recordSafely(claim, outcome, log);
  }

  /** Records an attempt's outcome; a lost lease or PostgreSQL failure leaves it to the lease. */
  private async recordSafely(
    claim: DeliveryClaim,
    outcome: SendOutcome,
    log: Logger,
  ): Promise<void> {
    try {
      await this.record(claim, outcome, log);
    } catch (error) {
      if (error instanceof DeliveryLeaseLost) {
        this.metrics.attempts.inc({ outcome: 'lease_lost' });
        log.warn('lost the webhook delivery lease before recording; discarding this attempt');
      } else {
        // PostgreSQL itself may be what failed: the lease expires and the sweeper hands the
        // delivery to a worker again, which sends it again.
        log.warn(
          { err: { message: (error as Error).message } },
          'could not record a webhook delivery attempt; its lease will expire',
        );
      }
    }
  }

  private async record(claim: DeliveryClaim, sent: SendOutcome, log: Logger): Promise<void> {
    const outcome: AttemptOutcome = {
      responseCode: sent.responseCode,
      latencyMs: sent.latencyMs,
      error: sent.error,
    };
    const next = sent.delivered
      ? ({ kind: 'delivered' } as const)
      : afterFailure(claim.attempt, claim.createdAt.getTime(), Date.now(), this.config.webhooks);
    let disabled = false;
    let successor: string | null = null;
    if (next.kind !== 'give_up') {
      // The common case: one fenced statement.
      const finished = await this.deliveries.finishIfHeld(
        claim,
        next.kind === 'delivered'
          ? { state: 'succeeded' }
          : { state: 'pending', delayMs: next.delayMs },
        outcome,
      );
      if (!finished) throw new DeliveryLeaseLost(claim.id);
      successor = finished.successor;
    } else {
      await this.dataSource.transaction(async (manager) => {
        if (!(await this.deliveries.holdsLease(manager, claim)))
          throw new DeliveryLeaseLost(claim.id);
        await this.deliveries.finishAttempt(manager, claim, { state: 'failed' }, outcome);
        // Failing for the whole retry window: no delivery of the subscription succeeded since
        // this one's event, through all of its attempts.
        if (!(await this.deliveries.succeededSince(manager, claim.subscriptionId, claim.createdAt)))
          disabled = await this.disable(manager, claim, sent);
      });
    }

    if (next.kind === 'delivered') {
      this.metrics.attempts.inc({ outcome: 'delivered' });
      log.info({ status: sent.responseCode, latencyMs: sent.latencyMs }, 'webhook delivered');
    } else if (next.kind === 'retry') {
      this.metrics.attempts.inc({ outcome: 'retry' });
      log.warn(
        { status: sent.responseCode, err: { message: sent.error }, delayMs: next.delayMs },
        'webhook delivery failed; retrying',
      );
      await this.queue.wake([claim.id], `${claim.id}_retry_${claim.attempt}`, next.delayMs);
      return;
    } else {
      this.metrics.attempts.inc({ outcome: 'failed' });
      log.error(
        { status: sent.responseCode, err: { message: sent.error } },
        'webhook delivery failed for good: its retry window is over',
      );
      if (disabled) {
        this.metrics.disabled.inc();
        log.error(
          { subscriptionId: claim.subscriptionId },
          'disabled a webhook subscription that failed for a whole retry window',
        );
        return;
      }
    }
    // This delivery is over: the next one of its chain may go now (a success found it already).
    if (next.kind === 'give_up' && claim.orderingKey !== null)
      successor = await this.deliveries
        .headOfChain(claim.subscriptionId, claim.orderingKey)
        .catch(() => null);
    if (successor) await this.queue.wake([successor], `${successor}_after_${claim.id}`);
  }

  /** Disables the subscription, cancels its open deliveries and audits it, in `manager`'s transaction. */
  private async disable(
    manager: EntityManager,
    claim: DeliveryClaim,
    sent: SendOutcome,
  ): Promise<boolean> {
    const hours = Math.round((this.config.webhooks.retryForMs / 3_600_000) * 100) / 100;
    const reason = `every attempt failed for the whole retry window (${hours} h); last: ${sent.error ?? 'no answer'}`;
    if (!(await this.subscriptions.disable(manager, claim.subscriptionId, reason))) return false;
    const cancelled = await this.deliveries.cancelOpen(
      manager,
      claim.subscriptionId,
      'the subscription was disabled',
    );
    await this.audit.record(manager, {
      actor: SYSTEM_ACTOR,
      action: 'webhook.disable',
      targetType: 'webhook_subscription',
      targetId: claim.subscriptionId,
      detail: {
        reason,
        // The origin only: receivers' URLs often carry a token in their path or query.
        url_origin: new URL(claim.url).origin,
        delivery_id: claim.id,
        event_id: claim.event.id,
        event_type: claim.event.type,
        attempts: claim.attempt,
        last_response_code: sent.responseCode,
        cancelled_deliveries: cancelled,
      },
    });
    return true;
  }
}
