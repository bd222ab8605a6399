import { GaugeReading } from './gauge-reading';

/** A read that counts its calls and answers what the test resolves it with. */
function controlledRead() {
  const pending: { resolve: (n: number) => void; reject: (e: Error) => void }[] = [];
  let calls = 0;
  const read = () =>
    new Promise<number>((resolve, reject) => {
      calls++;
      pending.push({ resolve, reject });
    });
  return {
    read,
    calls: () => calls,
    answer: (n: number) => pending.shift()?.resolve(n),
    fail: () => pending.shift()?.reject(new Error('database away')),
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
    const reading = new GaugeReading(r.read, 60_000);
    const failed = reading.current();
    r.fail();
    expect(await failed).toBeNull();
    const next = reading.current();
    expect(r.calls()).toBe(2);
    r.answer(3);
    expect(await next).toBe(3);
    expect(await reading.current()).toBe(3);
    expect(r.calls()).toBe(2);
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
