import { fullCollection } from './full-collection';

/** The heap's size with half a million small objects alive, which are garbage once it returns. */
function heapWithGarbage(): number {
  const garbage = Array.from({ length: 500_000 }, (_, i) => ({ i }));
  return process.memoryUsage().heapUsed + garbage.length * 0;
}

describe('fullCollection', () => {
  it('collects garbage at once and says how long it took', () => {
    fullCollection();
    const base = process.memoryUsage().heapUsed;
    const grown = heapWithGarbage();
    expect(grown - base).toBeGreaterThan(8 * 1024 * 1024);
    const seconds = fullCollection();
    expect(process.memoryUsage().heapUsed - base).toBeLessThan((grown - base) / 4);
    expect(seconds).toBeGreaterThan(0);
  });
});
