import {
  checkPartSizes,
  checkPartsList,
  checkPartsReceived,
  hashedPrefix,
  isValidPartNumber,
  samePartsList,
  type ChainLink,
  type ListedPart,
} from './upload-parts';
import { MIB } from './cas-limits';

const part = (number: number, sizeBytes = 5 * MIB, etag = `e${number}`): ListedPart => ({
  number,
  etag,
  sizeBytes,
});

describe('part numbers and lists', () => {
  it('accepts part numbers 1 to 10000 only', () => {
    expect(isValidPartNumber(1)).toBe(true);
    expect(isValidPartNumber(10_000)).toBe(true);
    expect(isValidPartNumber(0)).toBe(false);
    expect(isValidPartNumber(10_001)).toBe(false);
    expect(isValidPartNumber(1.5)).toBe(false);
  });

  it('points at duplicates, disorder, bad numbers, etags and sizes', () => {
    expect(checkPartsList([])).toEqual([
      { pointer: '/parts', detail: 'must list at least one part' },
    ]);
    const errors = checkPartsList([
      part(1),
      part(3),
      part(3),
      part(2),
      part(0),
      { number: 7, etag: '', sizeBytes: -1 },
    ]);
    expect(errors).toEqual([
      { pointer: '/parts/2/number', detail: 'part 3 is listed twice' },
      { pointer: '/parts/3/number', detail: 'parts must be listed in ascending order' },
      { pointer: '/parts/4/number', detail: expect.stringMatching(/integer from 1 to 10000/) },
      { pointer: '/parts/5/etag', detail: expect.any(String) },
      { pointer: '/parts/5/size_bytes', detail: expect.any(String) },
    ]);
    expect(checkPartsList([part(1), part(4), part(9)])).toEqual([]);
  });

  it('compares the list with what was received', () => {
    const received = new Map([
      [1, { partNumber: 1, etag: 'e1', sizeBytes: 5 * MIB }],
      [2, { partNumber: 2, etag: 'new', sizeBytes: 5 * MIB }],
      [3, { partNumber: 3, etag: 'e3', sizeBytes: 10 }],
    ]);
    expect(checkPartsReceived([part(1), part(2), part(3, 11), part(4)], received)).toEqual([
      { pointer: '/parts/1/etag', detail: expect.stringMatching(/has etag new/) },
      { pointer: '/parts/2/size_bytes', detail: 'part 3 has 10 bytes' },
      { pointer: '/parts/3/number', detail: 'part 4 was not received' },
    ]);
  });

  it('needs 5 MiB in every part but the last', () => {
    expect(checkPartSizes([part(1), part(2, 1)])).toEqual([]);
    expect(checkPartSizes([part(1, 5 * MIB - 1), part(2, 1)])).toEqual([
      { pointer: '/parts/0/size_bytes', detail: expect.stringMatching(/at least 5 MiB/) },
    ]);
  });

  it('tells identical lists apart from different ones', () => {
    expect(samePartsList([part(1), part(2)], [part(1), part(2)])).toBe(true);
    expect(samePartsList([part(1), part(2)], [part(1), part(2, 3)])).toBe(false);
    expect(samePartsList([part(1)], [part(1), part(2)])).toBe(false);
  });
});

describe('hashedPrefix', () => {
  const s = (n: number) => Uint8Array.of(n);
  const link = (
    partNumber: number,
    prev: [number, string] | null,
    state: Uint8Array | null = s(partNumber),
    etag = `e${partNumber}`,
  ): ChainLink => ({
    partNumber,
    etag,
    sizeBytes: 5 * MIB,
    hashState: state,
    chainPrevPart: prev?.[0] ?? null,
    chainPrevEtag: prev?.[1] ?? null,
  });
  const map = (...links: ChainLink[]) => new Map(links.map((l) => [l.partNumber, l]));

  it('covers every part when they arrived in order', () => {
    const got = hashedPrefix(
      [part(1), part(2), part(3)],
      map(link(1, null), link(2, [1, 'e1']), link(3, [2, 'e2'])),
    );
    expect(got).toEqual({ parts: 3, bytes: 15 * MIB, state: s(3) });
  });

  it('stops where a part was replaced after its successor was hashed', () => {
    const got = hashedPrefix(
      [part(1), part(2, 5 * MIB, 'e2b'), part(3)],
      map(link(1, null), link(2, [1, 'e1'], s(2), 'e2b'), link(3, [2, 'e2'])),
    );
    expect(got).toEqual({ parts: 2, bytes: 10 * MIB, state: s(2) });
  });

  it('stops at a part hashed out of order or not at all', () => {
    expect(hashedPrefix([part(1), part(2)], map(link(1, null), link(2, null, null)))).toEqual({
      parts: 1,
      bytes: 5 * MIB,
      state: s(1),
    });
    expect(hashedPrefix([part(1), part(3)], map(link(1, null), link(3, [2, 'e2'])))).toMatchObject({
      parts: 1,
    });
    expect(hashedPrefix([part(2)], map(link(2, [1, 'e1'])))).toEqual({
      parts: 0,
      bytes: 0,
      state: null,
    });
  });
});
