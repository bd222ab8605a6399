import {
  PUBLISHED_MANIFEST_CACHE_SIZE,
  PublishedManifests,
  type RenderedManifest,
} from './published-manifests';

const manifest = (tag: string, published = true): RenderedManifest => ({
  body: Buffer.from(tag),
  etag: `"${tag}"`,
  published,
  artifact: () => undefined,
});

describe('PublishedManifests', () => {
  it('answers only for the revision an entry was read under', () => {
    const cache = new PublishedManifests();
    cache.set('debian', '1', 5, manifest('a'));
    expect(cache.get('debian', '1', 5)?.etag).toBe('"a"');
    expect(cache.get('debian', '1', 4)).toBeUndefined(); // an older revision: kept for later
    expect(cache.holds('debian', '1')).toBe(true);
    expect(cache.get('debian', '1', 6)).toBeUndefined(); // a newer one: dropped
    expect(cache.holds('debian', '1')).toBe(false);
  });

  it('keeps the newest revision when fills race', () => {
    const cache = new PublishedManifests();
    cache.set('debian', '1', 7, manifest('new'));
    cache.set('debian', '1', 6, manifest('old'));
    expect(cache.get('debian', '1', 7)?.etag).toBe('"new"');
  });

  it('never keeps what is not published', () => {
    const cache = new PublishedManifests();
    cache.set('debian', 'draft', 1, manifest('d', false));
    expect(cache.holds('debian', 'draft')).toBe(false);
  });

  it('keys by image and version exactly', () => {
    const cache = new PublishedManifests();
    cache.set('debian', '1', 1, manifest('y'));
    expect(cache.get('debian', '10', 1)).toBeUndefined();
  });

  it('drops the oldest entry not read since it came in when full', () => {
    const cache = new PublishedManifests();
    for (let i = 0; i < PUBLISHED_MANIFEST_CACHE_SIZE; i++)
      cache.set('img', String(i), 1, manifest(String(i)));
    expect(cache.get('img', '0', 1)).toBeDefined(); // read: kept for another round
    cache.set('img', 'one more', 1, manifest('m'));
    expect(cache.size).toBe(PUBLISHED_MANIFEST_CACHE_SIZE);
    expect(cache.holds('img', '0')).toBe(true);
    expect(cache.holds('img', '1')).toBe(false);
  });
});
