import { RevisionCache } from './revision-cache';

describe('RevisionCache', () => {
  it('answers only for the revision a value was read under, dropping it for a newer one', () => {
    const cache = new RevisionCache<string>(4);
    cache.set('k', 3, 'three');
    expect(cache.get('k', 3)).toBe('three');
    expect(cache.get('k', 2)).toBeUndefined();
    expect(cache.has('k')).toBe(true);
    expect(cache.get('k', 4)).toBeUndefined();
    expect(cache.has('k')).toBe(false);
  });

  it('never lets an older read replace a newer one', () => {
    const cache = new RevisionCache<string>(4);
    cache.set('k', 5, 'new');
    cache.set('k', 4, 'old');
    expect(cache.get('k', 5)).toBe('new');
    cache.set('k', 6, 'newer');
    expect(cache.get('k', 6)).toBe('newer');
  });

  it('bounds the summed weight, dropping the oldest value not read since it came in first', () => {
    const cache = new RevisionCache<number[]>(10, (rows) => rows.length);
    cache.set('a', 1, [1, 2, 3, 4]);
    cache.set('b', 1, [1, 2, 3, 4]);
    expect(cache.get('a', 1)).toBeDefined(); // now b is the coldest
    cache.set('c', 1, [1, 2, 3]);
    expect(cache.has('b')).toBe(false);
    expect([cache.has('a'), cache.has('c'), cache.size]).toEqual([true, true, 2]);
    // Replacing a value counts only its new weight.
    cache.set('a', 2, [1]);
    cache.set('d', 1, [1, 2, 3, 4, 5, 6, 7]);
    expect([cache.has('a'), cache.has('c'), cache.has('d')]).toEqual([true, false, true]);
  });

  it('keeps nothing heavier than the whole capacity', () => {
    const cache = new RevisionCache<number[]>(2, (rows) => rows.length);
    cache.set('small', 1, [1]);
    cache.set('huge', 1, [1, 2, 3]);
    expect([cache.has('small'), cache.has('huge')]).toEqual([true, false]);
  });
  it('gives a value read since it was kept one more round, then drops it if unread', () => {
    const cache = new RevisionCache<string>(3);
    for (const k of ['a', 'b', 'c']) cache.set(k, 1, k);
    cache.get('a', 1);
    cache.get('b', 1);
    cache.set('d', 1, 'd'); // a and b were read: c, the oldest unread, goes
    expect(['a', 'b', 'c', 'd'].map((k) => cache.has(k))).toEqual([true, true, false, true]);
    cache.set('e', 1, 'e'); // d was never read
    expect(['a', 'b', 'd', 'e'].map((k) => cache.has(k))).toEqual([true, true, false, true]);
    cache.set('f', 1, 'f'); // a's mark was spent on the first round
    expect(['a', 'b', 'e', 'f'].map((k) => cache.has(k))).toEqual([false, true, true, true]);
    expect(cache.size).toBe(3);
  });

  it('drops the oldest when every value was read, and keeps the one just set', () => {
    const cache = new RevisionCache<string>(2);
    cache.set('a', 1, 'a');
    cache.set('b', 1, 'b');
    cache.get('a', 1);
    cache.get('b', 1);
    cache.set('c', 1, 'c');
    expect(['a', 'b', 'c'].map((k) => cache.has(k))).toEqual([false, true, true]);
    expect(cache.get('c', 1)).toBe('c');
  });
});
