import { planDownload, type DownloadMeta } from './download-plan';

const meta: DownloadMeta = {
  digest: `sha256:${'ab'.repeat(32)}`,
  sizeBytes: 100,
  mediaType: 'application/x-qemu-disk',
  filename: 'debian-12-1-amd64.qcow2',
  lastModified: new Date('2026-11-23T01:02:03.456Z'),
  immutable: true,
};
const etag = `"sha256:${'ab'.repeat(32)}"`;

describe('planDownload', () => {
  it('serves the whole object with the documented headers', () => {
    const p = planDownload({ method: 'GET' }, meta);
    expect(p.status).toBe(200);
    expect(p.body).toEqual({});
    expect(p.headers).toMatchObject({
      etag,
      'content-length': '100',
      'content-type': 'application/x-qemu-disk',
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=31536000, immutable',
      'content-disposition': 'attachment; filename="debian-12-1-amd64.qcow2"',
      'last-modified': 'Mon, 23 Nov 2026 01:02:03 GMT',
    });
  });

  it('answers HEAD with the same headers and no body', () => {
    const p = planDownload({ method: 'HEAD', range: 'bytes=0-9' }, meta);
    expect(p.status).toBe(206);
    expect(p.body).toBeNull();
    expect(p.headers['content-length']).toBe('10');
  });

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=90-', 90, 99],
    ['bytes=-5', 95, 99],
    ['bytes=95-1000', 95, 99],
    ['bytes=-1000', 0, 99],
  ])('serves %s as one range', (range, start, end) => {
    const p = planDownload({ method: 'GET', range }, meta);
    expect(p.status).toBe(206);
    expect(p.body).toEqual({ range: { start, end } });
    expect(p.headers['content-range']).toBe(`bytes ${start}-${end}/100`);
  });

  it.each(['bytes=100-', 'bytes=0-1,4-5', 'bytes=-0', 'bytes=200-300'])(
    'refuses %s with 416',
    (range) => {
      const p = planDownload({ method: 'GET', range }, meta);
      expect(p.status).toBe(416);
      expect(p.headers['content-range']).toBe('bytes */100');
      expect(p.body).toBeNull();
    },
  );

  it.each(['bytes=5-2', 'items=0-1', 'bytes=abc', `bytes=0-${'9'.repeat(30)}`])(
    'ignores the malformed range %s and serves everything',
    (range) => {
      expect(planDownload({ method: 'GET', range }, meta).status).toBe(200);
    },
  );

  it('answers 304 to a matching If-None-Match, weak or listed', () => {
    expect(planDownload({ method: 'GET', ifNoneMatch: etag }, meta).status).toBe(304);
    expect(planDownload({ method: 'GET', ifNoneMatch: `"x", W/${etag}` }, meta).status).toBe(304);
    expect(planDownload({ method: 'GET', ifNoneMatch: '*' }, meta).status).toBe(304);
    expect(planDownload({ method: 'GET', ifNoneMatch: '"other"' }, meta).status).toBe(200);
  });

  it('uses If-Modified-Since only without If-None-Match', () => {
    const later = 'Mon, 23 Nov 2026 01:02:03 GMT';
    expect(planDownload({ method: 'GET', ifModifiedSince: later }, meta).status).toBe(304);
    expect(
      planDownload({ method: 'GET', ifModifiedSince: 'Sun, 22 Nov 2026 00:00:00 GMT' }, meta)
        .status,
    ).toBe(200);
    expect(
      planDownload({ method: 'GET', ifModifiedSince: later, ifNoneMatch: '"other"' }, meta).status,
    ).toBe(200);
  });

  it('honours a range only when If-Range still matches', () => {
    expect(planDownload({ method: 'GET', range: 'bytes=0-1', ifRange: etag }, meta).status).toBe(
      206,
    );
    expect(
      planDownload({ method: 'GET', range: 'bytes=0-1', ifRange: '"stale"' }, meta).status,
    ).toBe(200);
    expect(
      planDownload(
        { method: 'GET', range: 'bytes=0-1', ifRange: 'Mon, 23 Nov 2026 01:02:03 GMT' },
        meta,
      ).status,
    ).toBe(206);
  });

  it('does not let drafts be cached as immutable', () => {
    expect(
      planDownload({ method: 'GET' }, { ...meta, immutable: false }).headers['cache-control'],
    ).toBe('private, no-cache');
  });

  it('serves an empty object whole and refuses any range of it', () => {
    const empty = { ...meta, sizeBytes: 0 };
    expect(planDownload({ method: 'GET' }, empty).headers['content-length']).toBe('0');
    expect(planDownload({ method: 'GET', range: 'bytes=0-' }, empty).status).toBe(416);
  });
});
