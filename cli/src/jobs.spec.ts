import { stepLine } from './jobs';

const step = (state: string, attempt_count: number, failure_message: string | null = null) =>
  ({
    name: 'incus_index',
    sequence: 2,
    state,
    attempt_count,
    failure_message,
  }) as unknown as Parameters<typeof stepLine>[0];

describe('stepLine', () => {
  it('shows a step as it runs and ends', () => {
    expect(stepLine(step('queued', 0))).toBe('  queued    incus_index');
    expect(stepLine(step('running', 1))).toBe('  running   incus_index');
    expect(stepLine(step('succeeded', 1))).toBe('  succeeded incus_index');
  });

  it('shows a step queued again after a failure as retrying, with the attempt to come', () => {
    expect(stepLine(step('queued', 1, 'blob store timed out'))).toBe(
      '  retrying  incus_index (attempt 2): blob store timed out',
    );
    expect(stepLine(step('running', 2))).toBe('  running   incus_index (attempt 2)');
    expect(stepLine(step('failed', 3, 'gave up'))).toBe(
      '  failed    incus_index (attempt 3): gave up',
    );
  });
});
