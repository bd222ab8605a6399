import { GaugeReading } from './gauge-reading';

/** A read that counts its calls and answers what the test resolves each call with. */
function controlledRead() {
  const calls: { resolve: (n: number) => void; reject: (e: Error) => void; done: boolean }[] = [];
  const read = () =>
    new Promise<number>((resolve, reject) => {
      calls.push({ resolve, reject, done: false });
    });
  const oldest = () => {
    const call = calls.find((c) => !c.done);
    if (call) call.done = true;
    return call;
  };
  return {
    read,
    calls: () => calls.length,
    /** Answers the oldest read not answered yet. */
    answer: (n: number) => oldest()?.resolve(n),
    /** Answers read number `k` (from 1). */
    answerCall: (k: number, n: number) => {
      calls[k - 1].done = true;
      calls[k - 1].resolve(n);
    },
    fail: () => oldest()?.reject(new Error('database away')),
  };
}

describe('GaugeReading', () => {
  afterEach(() => jest.useRealTimers());

  it('answers one reading until it is maxAgeMs old, then reads again', async () => {
    jest.useFakeTimers({ now: 0, doNotFake: ['nextTick', 'setImmediate'] });
    const r = controlledRead();
    const reading = new GaugeReading(r.read, 1000);
    const first = reading.current();
    r.answer(1);
    expect(await first).toBe(1);
    jest.advanceTimersByTime(999);
    expect(await reading.current()).toBe(1);
    expect(r.calls()).toBe(1);
    jest.advanceTimersByTime(1);
    const second = reading.current();
    expect(r.calls()).toBe(2);
    r.answer(2);
    expect(await second).toBe(2);
  });

  it('counts the age from before the read, not from its answer', async () => {
    jest.useFakeTimers({ now: 0, doNotFake: ['nextTick', 'setImmediate'] });
    const r = controlledRead();
    const reading = new GaugeReading(r.read, 1000);
    const first = reading.current();
    jest.advanceTimersByTime(600); // the read takes 600 ms
    r.answer(1);
    expect(await first).toBe(1);
    jest.advanceTimersByTime(400);
    void reading.current();
    expect(r.calls()).toBe(2);
  });

  it('lets scrapes during a read share it', async () => {
    const r = controlledRead();
    const reading = new GaugeReading(r.read, 1000);
    const both = Promise.all([reading.current(), reading.current()]);
    expect(r.calls()).toBe(1);
    r.answer(7);
    expect(await both).toEqual([7, 7]);
  });

  it('answers null for a failed read, keeps nothing of it, and reads again at the next scrape', async () => {
    const r = controlledRead();
    const failures: string[] = [];
    const reading = new GaugeReading(r.read, 60_000, (e) => failures.push((e as Error).message));
    const failed = reading.current();
    r.fail();
    expect(await failed).toBeNull();
    expect(failures).toEqual(['database away']);
    const next = reading.current();
    expect(r.calls()).toBe(2);
    r.answer(3);
    expect(await next).toBe(3);
    expect(await reading.current()).toBe(3);
    expect(r.calls()).toBe(2);
  });

  it('stops waiting for a read after waitMs, reads again at the next scrape, and keeps the newer of two readings', async () => {
    jest.useFakeTimers({ now: 0, doNotFake: ['nextTick', 'setImmediate'] });
    const r = controlledRead();
    const failures: string[] = [];
    const reading = new GaugeReading(r.read, 0, (e) => failures.push((e as Error).message), 2000);
    const stuck = reading.current();
    jest.advanceTimersByTime(1999);
    expect(await Promise.race([stuck, Promise.resolve('waiting')])).toBe('waiting');
    jest.advanceTimersByTime(1);
    expect(await stuck).toBeNull();
    expect(failures).toEqual(['no answer within 2000 ms']);

    const next = reading.current(); // not the stuck read again
    expect(r.calls()).toBe(2);
    r.answer(1); // the stuck read lands late...
    r.answer(2); // ...before the newer one
    expect(await next).toBe(2);
    const kept = new GaugeReading(r.read, 60_000, undefined, 2000);
    const old = kept.current();
    jest.advanceTimersByTime(2000);
    await old;
    jest.advanceTimersByTime(10);
    const newer = kept.current();
    r.answerCall(4, 20); // the newer read lands first
    expect(await newer).toBe(20);
    r.answerCall(3, 10); // the older one after it: not kept
    await Promise.resolve();
    expect(await kept.current()).toBe(20);
    expect(r.calls()).toBe(4);
  });

  it('reads at every scrape with maxAgeMs 0', async () => {
    const r = controlledRead();
    const reading = new GaugeReading(r.read, 0);
    for (let i = 1; i <= 3; i++) {
      const now = reading.current();
      r.answer(i);
      expect(await now).toBe(i);
    }
    expect(r.calls()).toBe(3);
  });
});
