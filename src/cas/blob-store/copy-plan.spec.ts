import { copyRanges, MAX_COPY_BYTES } from './copy-plan';

const MIB = 1024 * 1024;

describe('copyRanges', () => {
  it('covers the object in contiguous ranges of the part size', () => {
    expect(copyRanges(1200 * MIB, 512 * MIB)).toEqual([
      { start: 0, end: 512 * MIB - 1 },
      { start: 512 * MIB, end: 1024 * MIB - 1 },
      { start: 1024 * MIB, end: 1200 * MIB - 1 },
    ]);
  });

  it('never goes under 5 MiB per part nor over 10000 parts or 5 GiB per part', () => {
    expect(copyRanges(12 * MIB, 1)).toHaveLength(3);
    const huge = 10_000 * MAX_COPY_BYTES;
    const ranges = copyRanges(huge, 512 * MIB);
    expect(ranges).toHaveLength(10_000);
    expect(ranges.every((r) => r.end - r.start + 1 <= MAX_COPY_BYTES)).toBe(true);
    expect(ranges.at(-1)?.end).toBe(huge - 1);
    expect(() => copyRanges(huge + 1)).toThrow(/too large/);
    expect(() => copyRanges(0)).toThrow();
  });
});
