import { MIB, choosePartSize, parseSize, partsToSend, planParts } from './part-plan';

describe('planParts', () => {
  it('covers the file with consecutive ranges, the last one short', () => {
    expect(planParts(12, 5)).toEqual([
      { number: 1, start: 0, size: 5 },
      { number: 2, start: 5, size: 5 },
      { number: 3, start: 10, size: 2 },
    ]);
  });

  it('gives an exact multiple no empty trailing part', () => {
    expect(planParts(10, 5).map((p) => p.size)).toEqual([5, 5]);
  });

  it('sends an empty file as one empty part', () => {
    expect(planParts(0, 5)).toEqual([{ number: 1, start: 0, size: 0 }]);
  });
});

describe('choosePartSize', () => {
  it('never goes below the 5 MiB floor', () => {
    expect(choosePartSize(100, 1024)).toBe(5 * MIB);
  });

  it('grows so that a huge file fits in 10 000 parts', () => {
    const size = 200 * 1024 * MIB;
    const part = choosePartSize(size, 5 * MIB);
    expect(planParts(size, part).length).toBeLessThanOrEqual(10_000);
  });
});

describe('partsToSend', () => {
  it('keeps the parts the server holds with the right size and sends the rest', () => {
    const plan = planParts(12, 5);
    const { keep, send } = partsToSend(plan, [
      { part_number: 1, size_bytes: 5, etag: 'a' },
      { part_number: 3, size_bytes: 1, etag: 'short' },
    ]);
    expect([...keep]).toEqual([[1, 'a']]);
    expect(send.map((p) => p.number)).toEqual([2, 3]);
  });
});

describe('parseSize', () => {
  it.each([
    ['1048576', MIB],
    ['5M', 5 * MIB],
    ['5MiB', 5 * MIB],
    ['1.5k', 1536],
    ['1G', 1024 * MIB],
  ])('reads %s', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it('refuses what is not a size', () => {
    expect(() => parseSize('five')).toThrow(/not a size/);
  });
});
