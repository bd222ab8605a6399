/**
 * The rules of webhook delivery, without I/O: when to retry, when to give up, which answer
 * counts as delivered, and which delivery may go out while others are open. The repository's
 * SQL implements the ordering rule as `mayAttempt` states it.
 */

export type DeliveryState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const OPEN_STATES: readonly DeliveryState[] = ['pending', 'running'];

/** Only a 2xx answer delivers. A 3xx is a failure: redirects are never followed. */
export function isDelivered(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Delay after failed attempt number `attempt` (1-based): exponential from `baseMs`, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export type AfterFailure =
  { readonly kind: 'retry'; readonly delayMs: number } | { readonly kind: 'give_up' };

export interface RetryPolicy {
  readonly retryForMs: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
}

/**
 * What follows failed attempt number `attempt` of a delivery created at `createdAt`: another
 * attempt after the backoff, or, once the retry window (`retryForMs` from creation) is over,
 * nothing. A backoff that would end past the window is shortened to its end, so the last attempt
 * happens when the window closes and the window is covered whole.
 */
export function afterFailure(
  attempt: number,
  createdAt: number,
  now: number,
  policy: RetryPolicy,
): AfterFailure {
  const deadline = createdAt + policy.retryForMs;
  if (now >= deadline) return { kind: 'give_up' };
  const delay = backoffMs(attempt, policy.backoffBaseMs, policy.backoffCapMs);
  return { kind: 'retry', delayMs: Math.min(delay, deadline - now) };
}

/**
 * When each attempt of a delivery that always fails happens, in ms after the event, assuming
 * attempts take no time: the retry schedule an operator reads in docs/events.md.
 */
export function retrySchedule(policy: RetryPolicy): number[] {
  const times = [0];
  for (let attempt = 1; ; attempt++) {
    const now = times[times.length - 1];
    const next = afterFailure(attempt, 0, now, policy);
    if (next.kind === 'give_up') return times;
    times.push(now + next.delayMs);
  }
}

export interface ChainMember {
  readonly subscriptionId: string;
  /** `image:<name>`; null for events ordered with nothing (ping). */
  readonly orderingKey: string | null;
  /** The event's sequence number: commit order within an ordering key. */
  readonly eventSeq: number;
  readonly state: DeliveryState;
}

/**
 * The ordering rule: a delivery may be attempted only while no delivery of the same subscription
 * with the same ordering key and an earlier event is still open (pending or running). An earlier
 * one that succeeded, failed for good or was cancelled no longer holds the later ones back.
 * Deliveries without an ordering key are never held back.
 */
export function mayAttempt(candidate: ChainMember, others: readonly ChainMember[]): boolean {
  if (candidate.orderingKey === null) return true;
  return !others.some(
    (o) =>
      o.subscriptionId === candidate.subscriptionId &&
      o.orderingKey === candidate.orderingKey &&
      o.eventSeq < candidate.eventSeq &&
      OPEN_STATES.includes(o.state),
  );
}

/** Failure text kept on a delivery: the message only, bounded. */
export function failureText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 1000 ? `${message.slice(0, 997)}...` : message;
}
