import {
  afterFailure,
  backoffMs,
  isDelivered,
  mayAttempt,
  retrySchedule,
  type ChainMember,
} from './delivery-plan';

const S = 1000;
const H = 3_600_000;

describe('the retry schedule', () => {
  it('doubles from the base and stops growing at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 5 * S, 60 * S))).toEqual([
      5 * S,
      10 * S,
      20 * S,
      40 * S,
      60 * S,
      60 * S,
    ]);
  });

  it('retries until the window closes, the last attempt exactly at its end, then gives up', () => {
    const policy = { retryForMs: 24 * H, backoffBaseMs: 5 * S, backoffCapMs: H };
    const times = retrySchedule(policy);
    expect(times.slice(0, 6)).toEqual([0, 5 * S, 15 * S, 35 * S, 75 * S, 155 * S]);
    expect(times[times.length - 1]).toBe(24 * H);
    // Never more than the cap apart, always later than the one before.
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1]).toBeGreaterThan(0);
      expect(times[i] - times[i - 1]).toBeLessThanOrEqual(H);
    }
    // 11 growing attempts reach the cap at about 2.8 h; hourly after that until 24 h.
    expect(times).toHaveLength(34);
    expect(afterFailure(times.length, 0, 24 * H, policy)).toEqual({ kind: 'give_up' });
  });

  it('shortens the backoff that would end past the window, and gives up at or after its end', () => {
    const policy = { retryForMs: 10 * S, backoffBaseMs: 4 * S, backoffCapMs: H };
    expect(afterFailure(1, 0, 1 * S, policy)).toEqual({ kind: 'retry', delayMs: 4 * S });
    expect(afterFailure(2, 0, 5 * S, policy)).toEqual({ kind: 'retry', delayMs: 5 * S });
    expect(afterFailure(3, 0, 10 * S, policy)).toEqual({ kind: 'give_up' });
    expect(afterFailure(3, 0, 11 * S, policy)).toEqual({ kind: 'give_up' });
  });
});

describe('what counts as delivered', () => {
  it.each([
    [200, true],
    [204, true],
    [299, true],
    [199, false],
    [301, false],
    [302, false],
    [308, false],
    [400, false],
    [410, false],
    [500, false],
  ])('%i → %s', (status, delivered) => {
    expect(isDelivered(status)).toBe(delivered);
  });
});

describe('the ordering rule', () => {
  const d = (
    eventSeq: number,
    state: ChainMember['state'],
    over: Partial<ChainMember> = {},
  ): ChainMember => ({
    subscriptionId: 'a',
    orderingKey: 'image:debian-12',
    eventSeq,
    state,
    ...over,
  });

  it('holds a delivery back while an earlier event of its image to its subscription is open', () => {
    expect(mayAttempt(d(2, 'pending'), [d(1, 'pending')])).toBe(false);
    expect(mayAttempt(d(2, 'pending'), [d(1, 'running')])).toBe(false);
  });

  it('lets it go once every earlier one ended, however it ended', () => {
    for (const state of ['succeeded', 'failed', 'cancelled'] as const)
      expect(mayAttempt(d(2, 'pending'), [d(1, state)])).toBe(true);
  });

  it('is not held back by later events, other images or other subscriptions', () => {
    const candidate = d(5, 'pending');
    expect(
      mayAttempt(candidate, [
        d(6, 'pending'),
        d(1, 'pending', { orderingKey: 'image:ubuntu-24.04' }),
        d(1, 'running', { subscriptionId: 'b' }),
      ]),
    ).toBe(true);
  });

  it('never holds back an event ordered with nothing (a ping)', () => {
    expect(mayAttempt(d(9, 'pending', { orderingKey: null }), [d(1, 'pending')])).toBe(true);
  });
});
