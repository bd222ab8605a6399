import { bearer, issueIdentity, type IssuedIdentity } from '../support/auth';
import { RawConnection } from '../support/raw-http';
import { api, markPublished } from '../support/catalog';
import { startTestApp, type TestApp } from '../support/test-app';

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

/**
 * Input the validators' own rules do not speak of, found by a fuzz pass that got 500s (and one
 * crash) for each kind: bodies that are not JSON, JSON nested thousands deep, texts PostgreSQL
 * cannot store, forged pagination cursors. Each must answer 4xx problem+json and leave the server
 * serving.
 */
describe('malformed input answers 4xx problem+json', () => {
  let app: TestApp;
  let admin: Record<string, string>;
  let writer: IssuedIdentity;

  const send = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ) => {
    const res = await app.fetch(path, { method, headers, body });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: text
        ? (JSON.parse(text) as { code: string; errors?: { pointer: string; detail: string }[] })
        : undefined,
    };
  };
  const json = (headers: Record<string, string>) => ({
    ...headers,
    'content-type': 'application/json',
  });
  const stillServing = async () => expect((await app.fetch('/healthz')).status).toBe(200);

  beforeAll(async () => {
    app = await startTestApp();
    admin = bearer(app.bootstrapToken);
    writer = await issueIdentity(app, 'content-writer');
    expect((await api(app, 'POST', '/v1/images', writer.headers, { name: 'mi' })).status).toBe(201);
    await api(app, 'POST', '/v1/images/mi/versions', writer.headers, { version: '1' });
    await markPublished(app, 'mi', '1');
  });
  afterAll(() => app.close());

  it.each([
    ['application/xml', '<x/>'],
    ['application/octet-stream', '{"name":"x"}'],
    ['application/x-www-form-urlencoded', 'name=x'],
    ['multipart/form-data; boundary=b', '--b--'],
    ['x/y', 'z'],
    ['text/plain', '{"name":"x"}'],
  ])('refuses a %s body on JSON routes with 415, and keeps serving', async (type, body) => {
    for (const [method, path, headers] of [
      ['POST', '/v1/images', writer.headers],
      ['PATCH', '/v1/images/mi', writer.headers],
      ['POST', '/v1/auth/principals', admin],
    ] as const) {
      const res = await send(method, path, { ...headers, 'content-type': type }, body);
      expect([path, res.status, res.type, res.body?.code]).toEqual([
        path,
        415,
        'application/problem+json; charset=utf-8',
        'UNSUPPORTED_MEDIA_TYPE',
      ]);
    }
    await stillServing();
  });

  it('refuses a part sent as JSON with 415 instead of taking the parsed bytes', async () => {
    const begin = await api(app, 'POST', '/v1/uploads', writer.headers, {
      expected_digest: `sha256:${'0'.repeat(64)}`,
      expected_size_bytes: 4,
    });
    expect(begin.status).toBe(201);
    const res = await send(
      'PUT',
      `/v1/uploads/${begin.body.id}/parts/1`,
      json(writer.headers),
      '[1]',
    );
    expect([res.status, res.body?.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('refuses JSON nested too deep with 400, however deep', async () => {
    for (const depth of [40, 5_000, 50_000]) {
      const body = `{"name":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
      const res = await send('POST', '/v1/images', json(writer.headers), body);
      expect([depth, res.status, res.type]).toEqual([
        depth,
        400,
        'application/problem+json; charset=utf-8',
      ]);
    }
    const ok = `{"name":"deep-ok","description":"d"}`;
    const headers = { ...writer.headers, 'content-type': 'Application/JSON; charset=UTF-8' };
    expect((await send('POST', '/v1/images', headers, ok)).status).toBe(201);
    await stillServing();
  });

  it('refuses NUL and lone surrogates in values, field names, queries and paths with 400 naming the place', async () => {
    const cases: [string, string, Record<string, string>, string | undefined, string][] = [
      [
        'POST',
        '/v1/images',
        json(writer.headers),
        '{"name":"n1","description":"a\\u0000b"}',
        '/description',
      ],
      [
        'PATCH',
        '/v1/images/mi',
        json(writer.headers),
        '{"description":"a\\ud800b"}',
        '/description',
      ],
      [
        'POST',
        '/v1/auth/principals',
        json(admin),
        '{"kind":"service","display_name":"x\\u0000"}',
        '/display_name',
      ],
      [
        'POST',
        '/v1/auth/principals',
        json(admin),
        '{"kind":"service","display_name":"x","attributes":{"k\\u0000":"v"}}',
        '/attributes/k\u0000',
      ],
      ['GET', '/v1/audit-events?action=%00', admin, undefined, '/query/action'],
      ['GET', '/v1/images/a%00b', writer.headers, undefined, '/param/name'],
    ];
    for (const [method, path, headers, body, pointer] of cases) {
      const res = await send(method, path, headers, body);
      expect([path, res.status, res.body?.code]).toEqual([path, 400, 'VALIDATION_FAILED']);
      expect(res.body?.errors?.map((e) => e.pointer)).toEqual([pointer]);
    }
    await stillServing();
  });

  it('refuses forged cursors on every list with 400, anonymous or not', async () => {
    const byName = [['\u0000'], ['\ud800'], [1], ['x', 'y'], []];
    const byCreation = [
      ['x', 'x'],
      [1, 'x'],
      ['2026-01-01T00:00:00Z', 1],
      ['2026-01-01T00:00:00.000Z', 'not-a-uuid'],
      ['2026-13-45T00:00:00.000Z', '00000000-0000-0000-0000-000000000000'],
      ['x'],
    ];
    const byId = [['x'], [1.5], [1e300], [-1], ['99999999999999999999999']];
    const lists: [string, Record<string, string>, unknown[][]][] = [
      ['/v1/images', {}, byName],
      ['/v1/images/mi/aliases', {}, byName],
      ['/v1/images/mi/versions', {}, byCreation],
      ['/v1/publish-jobs', writer.headers, byCreation],
      ['/v1/auth/principals', admin, byCreation],
      ['/v1/auth/oidc-provisioning-rules', admin, byCreation],
      ['/v1/audit-events', admin, byId],
    ];
    for (const [path, headers, forged] of lists) {
      for (const key of [...forged, 'not base64 json']) {
        const cursor = typeof key === 'string' ? key : cursorOf(key);
        const res = await send('GET', `${path}?cursor=${encodeURIComponent(cursor)}`, headers);
        expect([path, key, res.status]).toEqual([path, key, 400]);
        expect(res.body?.errors?.[0].pointer).toBe('/query/cursor');
      }
    }
    // A cursor the list issued still pages on.
    await api(app, 'POST', '/v1/images', writer.headers, { name: 'mj' });
    const first = await api(app, 'GET', '/v1/images?limit=1', writer.headers);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api(
      app,
      'GET',
      `/v1/images?limit=1&cursor=${first.body.next_cursor}`,
      writer.headers,
    );
    expect(second.status).toBe(200);
    expect(second.body.images[0].name).not.toBe(first.body.images[0].name);
  });

  it('answers paths the router cannot decode or hold as problems, with a request id', async () => {
    for (const [path, status, code] of [
      ['/v1/images/%zz', 400, 'BAD_REQUEST'],
      ['/v1/images/%E2%82', 400, 'BAD_REQUEST'],
      [`/v1/images/${'a'.repeat(600)}`, 414, 'URI_TOO_LONG'],
    ] as const) {
      const res = await app.fetch(path);
      const body = (await res.json()) as { code: string; status: number };
      expect([
        path.slice(0, 20),
        res.status,
        res.headers.get('content-type'),
        body.code,
        body.status,
      ]).toEqual([
        path.slice(0, 20),
        status,
        'application/problem+json; charset=utf-8',
        code,
        status,
      ]);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it.each([false, true])(
    'answers requests the HTTP parser or Node refuses (no Host, Expect, CONNECT) as problems and closes (TLS: %s)',
    async (tls) => {
      const url = tls ? (app.server.urls.https ?? '') : app.url;
      for (const [raw, status, code] of [
        ['FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BAD_REQUEST'],
        ['GET /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'BAD_REQUEST'],
        [
          `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
          431,
          'HEADERS_TOO_LARGE',
        ],
        ['GET /v1/images HTTP/1.1\r\n\r\n', 400, 'BAD_REQUEST'],
        ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: garbage\r\n\r\n', 417, 'EXPECTATION_FAILED'],
        ['CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
      ] as const) {
        const conn = await RawConnection.open(url);
        await conn.write(raw);
        const [answer] = await conn.read(['GET']);
        await conn.closed;
        expect([raw.slice(0, 12), answer.status, answer.headers['content-type']]).toEqual([
          raw.slice(0, 12),
          status,
          'application/problem+json',
        ]);
        expect(JSON.parse(answer.body.toString())).toMatchObject({ status, code });
      }
      await stillServing();
    },
  );

  it('answers a body whose framing breaks while its route waits for it, at once, and closes', async () => {
    const conn = await RawConnection.open(app.url);
    // A JSON body sent chunked whose second chunk size is not a number: the route is reading
    // the body when Node's parser gives up on the connection.
    await conn.write(
      'POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Authorization: ${writer.headers.authorization}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        '5\r\n{"nam\r\n',
    );
    await conn.write('zz\r\ne": "x"}\r\n0\r\n\r\n');
    const [answer] = await conn.read(['POST']);
    await conn.closed;
    expect([answer.status, answer.headers['content-type']]).toEqual([
      400,
      'application/problem+json',
    ]);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    await stillServing();
  });
});
