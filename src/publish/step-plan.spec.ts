import { backoffMs, failureText, PermanentStepError, shouldRetry, STEPS } from './step-plan';

describe('step plan', () => {
  it('orders the three steps', () => {
    expect(STEPS).toEqual(['validate_catalog', 'incus_index', 'finalize_publish']);
  });

  it('backs off exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffMs(a, 500, 5_000))).toEqual([
      500, 1000, 2000, 4000, 5000, 5000,
    ]);
  });

  it('retries transient errors within the budget and permanent ones never', () => {
    expect(shouldRetry(new Error('ECONNREFUSED'), 1, 3)).toBe(true);
    expect(shouldRetry(new Error('ECONNREFUSED'), 3, 3)).toBe(false);
    expect(shouldRetry(new PermanentStepError('arch mismatch'), 1, 3)).toBe(false);
  });

  it('bounds failure messages', () => {
    expect(failureText(new Error('x'.repeat(5000)))).toHaveLength(2000);
    expect(failureText('plain')).toBe('plain');
  });
});
