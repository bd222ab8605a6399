import { contentRange, parseRange, rangeLength } from './byte-range';

describe('parseRange', () => {
  const size = 1000;

  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=900-', 900, 999],
    ['bytes=-100', 900, 999],
    ['bytes=-5000', 0, 999],
    ['bytes=990-2000', 990, 999],
    ['BYTES = 5-5', 5, 5],
  ])('serves %s as %i-%i', (header, start, end) => {
    expect(parseRange(header, size)).toEqual({ kind: 'range', range: { start, end } });
  });

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=0-1,5-6'])(
    'refuses %s as unsatisfiable',
    (header) => {
      expect(parseRange(header, size)).toEqual({ kind: 'unsatisfiable' });
    },
  );

  it('refuses any range of an empty object', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it.each([
    undefined,
    null,
    'items=0-1',
    'bytes=',
    'bytes=-',
    'bytes=5-2',
    'bytes=a-b',
    'bytes=99999999999999999999-',
  ])('ignores %s and serves the whole object', (header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'none' });
  });

  it('writes Content-Range values and lengths', () => {
    expect(contentRange(1000, { start: 0, end: 99 })).toBe('bytes 0-99/1000');
    expect(contentRange(1000)).toBe('bytes */1000');
    expect(rangeLength({ start: 10, end: 19 })).toBe(10);
  });
});
