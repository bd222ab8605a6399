import { Permits } from './permits';

describe('Permits', () => {
  it('lets `count` hold at once and serves the waiting in order', async () => {
    const permits = new Permits(2);
    const order: string[] = [];
    const a = await permits.acquire();
    const b = await permits.acquire();
    const c = permits.acquire().then((release) => (order.push('c'), release));
    const d = permits.acquire().then((release) => (order.push('d'), release));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    a();
    a(); // a second release gives nothing back
    const releaseC = await c;
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['c']);
    b();
    (await d)();
    releaseC();
    expect(order).toEqual(['c', 'd']);
    // all given back: two can hold again at once
    await permits.acquire();
    await permits.acquire();
  });

  it('refuses a count below one', () => {
    expect(() => new Permits(0)).toThrow(RangeError);
  });
});
