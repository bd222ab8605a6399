import type { Logger } from '../logging/logger';
import { RepeatingTask } from './repeating-task';

const warnings: string[] = [];
const logger = { warn: (_: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RepeatingTask', () => {
  it('runs one at a time: a run asked for while one is under way answers `none`', async () => {
    const gate = deferred();
    let runs = 0;
    const task = new RepeatingTask(
      'test',
      async () => {
        runs += 1;
        await gate.promise;
        return 'done';
      },
      'skipped',
      logger,
    );
    const first = task.run();
    expect(await task.run()).toBe('skipped');
    gate.resolve();
    expect(await first).toBe('done');
    expect(await task.run()).toBe('done');
    expect(runs).toBe(2);
  });

  it('answers `none` for a failed run, warns, and runs again next time', async () => {
    let fail = true;
    const task = new RepeatingTask(
      'flaky',
      () => {
        if (fail) throw new Error('at once');
        return Promise.resolve(1);
      },
      0,
      logger,
    );
    expect(await task.run()).toBe(0);
    expect(warnings).toContain('flaky failed');
    fail = false;
    expect(await task.run()).toBe(1);
  });

  it('stops after the run under way has ended, and no later than its bound', async () => {
    const gate = deferred();
    let ended = false;
    const task = new RepeatingTask(
      'slow',
      async () => {
        await gate.promise;
        ended = true;
      },
      undefined,
      logger,
    );
    void task.run();
    const stopped = task.stop(60_000);
    setTimeout(() => gate.resolve(), 20);
    await stopped;
    expect(ended).toBe(true);

    const stuck = new RepeatingTask('stuck', () => new Promise<void>(() => {}), undefined, logger);
    void stuck.run();
    await stuck.stop(20);
  });
});
