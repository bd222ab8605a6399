import fc from 'fast-check';
import { parseManifestPath } from './manifest.http';

/** The plain reading of the same rule: split on '/', six parts, two decoded segments. */
function bySplitting(url: string): { name: string; version: string } | undefined {
  if (!url.startsWith('/v1/images/') || url.includes('?')) return undefined;
  const parts = url.split('/');
  if (parts.length !== 6 || parts[4] !== 'versions' || !parts[3] || !parts[5]) return undefined;
  try {
    return { name: decodeURIComponent(parts[3]), version: decodeURIComponent(parts[5]) };
  } catch {
    return undefined;
  }
}

describe('parseManifestPath', () => {
  it('reads the name and version of a manifest path, decoding escapes', () => {
    expect(parseManifestPath('/v1/images/debian/versions/12.1')).toEqual({
      name: 'debian',
      version: '12.1',
    });
    expect(parseManifestPath('/v1/images/a%2Fb/versions/1%2B2')).toEqual({
      name: 'a/b',
      version: '1+2',
    });
  });

  it.each([
    '/v1/images/debian/versions/12.1?x=1',
    '/v1/images/debian/versions/',
    '/v1/images//versions/1',
    '/v1/images/debian/versions/1/artifacts',
    '/v1/images/debian/versions',
    '/v1/images/debian/aliases/latest',
    '/v1/images/debian/versionsx/1',
    '/v1/images/de%zz/versions/1',
    '/v1/images/debian/versions/%E0%A4%A',
    '/v2/images/debian/versions/1',
  ])('takes no other path: %s', (url) => {
    expect(parseManifestPath(url)).toBeUndefined();
  });

  it('agrees with splitting the path, for any path', () => {
    const piece = fc.oneof(
      fc.constantFrom('v1', 'images', 'versions', '', '%', '%2F', '%zz', '?', 'a', '1.0', '/'),
      fc.string({ maxLength: 4 }),
    );
    const url = fc.oneof(
      fc.array(piece, { maxLength: 4 }).map((p) => `/v1/images/${p.join('')}`),
      fc.tuple(piece, piece, piece).map(([n, v, tail]) => `/v1/images/${n}/versions/${v}${tail}`),
      fc.string(),
    );
    fc.assert(
      fc.property(url, (u) => {
        expect(parseManifestPath(u)).toEqual(bySplitting(u));
      }),
      { numRuns: 5000 },
    );
  });
});
