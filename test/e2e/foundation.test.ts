import { startTestApp, type TestApp } from '../support/test-app';
import { TcpProxy } from '../support/tcp-proxy';
import { REVISION_RECHECK_MS } from '../../src/streams/streams.service';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const PROBLEM = 'application/problem+json';

describe('the service skeleton', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it.each([false, true])(
    'answers /healthz and /readyz on the %s listener (false: http, true: https)',
    async (tls) => {
      const health = await app.fetch('/healthz', { tls });
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await app.fetch('/readyz', { tls });
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ok',
        checks: { database: 'ok', redis: 'ok', blob_store: 'ok' },
      });
    },
  );

  it('answers an unknown route with a 404 problem carrying a code and the request id', async () => {
    const res = await app.fetch('/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain(PROBLEM);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      type: 'urn:imgsrv:problem:route-not-found',
    });
    expect(body.instance).toBe(res.headers.get('x-request-id'));
  });

  it('answers a malformed JSON body with a 400 problem', async () => {
    const res = await app.fetch('/healthz', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain(PROBLEM);
    expect(await res.json()).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
  });

  it('refuses a JSON body over 1 MiB with 413', async () => {
    const res = await app.fetch('/healthz', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'BODY_TOO_LARGE' });
  });

  it('keeps a well-formed caller request id and replaces a malformed one', async () => {
    const kept = await app.fetch('/healthz', { headers: { 'x-request-id': 'trace-0123456789' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-0123456789');
    const replaced = await app.fetch('/healthz', {
      headers: { 'x-request-id': 'bad id\twith spaces' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves Swagger UI at /docs and the OpenAPI document at /docs-json', async () => {
    const ui = await app.fetch('/docs');
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger-ui/i);
    const doc = (await (await app.fetch('/docs-json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
  });

  it('documents which routes anonymous callers and Basic credentials may use', async () => {
    type Operation = { security?: Record<string, string[]>[] };
    const doc = (await (await app.fetch('/docs-json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const security = (path: string, method: string) => doc.paths[path][method].security;
    expect(security('/streams/v1/images.json', 'get')).toEqual(
      expect.arrayContaining([{}, { basic: [] }, { bearer: [] }]),
    );
    expect(
      security('/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/download', 'get'),
    ).toEqual(expect.arrayContaining([{}, { basic: [] }, { bearer: [] }]));
    expect(security('/v1/images/{name}', 'get')).toEqual([{ bearer: [] }, {}]);
    expect(security('/v1/images', 'post')).toEqual([{ bearer: [] }]);
  });

  it('documents HEAD beside GET where Fastify answers it, with the headers and statuses it sends', async () => {
    type Response = { content?: unknown; headers?: Record<string, unknown> };
    type Operation = { operationId: string; responses: Record<string, Response> };
    const doc = (await (await app.fetch('/docs-json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const withHead = Object.keys(doc.paths).filter((p) => doc.paths[p].head);
    expect(withHead.sort()).toEqual(
      [
        '/streams/v1/index.json',
        '/streams/v1/images.json',
        '/streams/v1/items/{sha256}/{filename}',
        '/v1/blobs/{digest}',
        '/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/download',
        '/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/download/{filename}',
        '/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/attachments/{attachment_id}/download',
        '/v1/images/{name}/versions/{version}/artifacts/{artifact_id}/attachments/{attachment_id}/download/{filename}',
      ].sort(),
    );
    for (const path of withHead) {
      const { get, head } = doc.paths[path];
      expect(head.operationId).toBe(get.operationId.replace(/^get/, 'head'));
      expect(Object.keys(head.responses)).toEqual(Object.keys(get.responses));
      expect(Object.values(head.responses).every((r) => r.content === undefined)).toBe(true);
      expect(Object.keys(get.responses)).toContain('304');
    }
    expect(Object.keys(doc.paths['/v1/blobs/{digest}'].get.responses)).toContain('206');

    // What the document says a HEAD of the index answers is what it answers.
    const index = doc.paths['/streams/v1/index.json'].head.responses;
    const res = await app.fetch('/streams/v1/index.json', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.arrayBuffer()).toHaveProperty('byteLength', 0);
    for (const name of Object.keys(index['200'].headers ?? {}).filter(
      (n) => n !== 'Content-Encoding',
    ))
      expect(res.headers.has(name)).toBe(true);
    const etag = res.headers.get('etag') ?? '';
    const notModified = await app.fetch('/streams/v1/index.json', {
      method: 'HEAD',
      headers: { 'if-none-match': etag },
    });
    expect(notModified.status).toBe(304);
    for (const name of Object.keys(index['304'].headers ?? {}))
      expect(notModified.headers.has(name)).toBe(true);

    expect(doc.paths['/readyz'].get.responses['503'].content).toEqual({
      'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDto' } },
    });
  });

  it('exposes request and process metrics on the metrics listener with route patterns as labels', async () => {
    await app.fetch('/healthz');
    await app.fetch('/v1/unknown/abc123');
    const res = await fetch(app.server.urls.metrics as string);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(
      /imgsrv_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
    expect(text).toMatch(/route="unmatched",status="404"/);
    expect(text).not.toContain('abc123');
    expect(text).toContain('imgsrv_process_resident_memory_bytes');
  });

  it('writes structured JSON request logs with the request id', async () => {
    const res = await app.fetch('/v1/logged-route', {
      headers: { 'x-request-id': 'log-check-0001' },
    });
    await res.arrayBuffer();
    const line = app.logs.lines.map((l) => JSON.parse(l)).find((l) => l.reqId === 'log-check-0001');
    expect(line).toMatchObject({ msg: 'request', status: 404, method: 'GET', route: 'unmatched' });
  });
});

describe('readiness when a dependency goes away', () => {
  const redisProxy = new TcpProxy('127.0.0.1', 6379);
  const pgProxy = new TcpProxy('127.0.0.1', 5432);
  let database: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    await redisProxy.start();
    await pgProxy.start();
    database = await createTestDatabase();
    const url = new URL(database.url);
    url.host = `${pgProxy.address.host}:${pgProxy.address.port}`;
    app = await startTestApp({
      database: { ...database, url: url.toString() },
      env: { IMGSRV_REDIS_URL: `redis://${redisProxy.address.host}:${redisProxy.address.port}` },
    });
  });
  afterAll(async () => {
    await app.close();
    await redisProxy.stop();
    await pgProxy.stop();
    await database.drop();
  });

  async function readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await app.fetch('/readyz');
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function eventually(predicate: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 60; i++) {
      if (await predicate()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('condition not reached');
  }

  it('names Redis when it is down and recovers without a restart', async () => {
    expect((await readiness()).status).toBe(200);
    await redisProxy.stop();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      code: 'NOT_READY',
      checks: { redis: 'fail', database: 'ok', blob_store: 'ok' },
    });
    expect(down.body.detail).toMatch(/redis/);
    // The queues report the lost connection through the log, not as raw console errors.
    await eventually(async () => /queue connection error/.test(app.logs.text()));
    await redisProxy.start();
    await eventually(async () => (await readiness()).status === 200);
  });

  it('answers the streams documents with 503 while PostgreSQL is away, and recovers', async () => {
    expect((await app.fetch('/streams/v1/images.json')).status).toBe(200);
    await pgProxy.stop();
    // Past the interval in which a process trusts the revision it last read.
    await new Promise((r) => setTimeout(r, REVISION_RECHECK_MS + 50));
    const down = await app.fetch('/streams/v1/images.json');
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/application\/problem\+json/);
    await pgProxy.start();
    await eventually(async () => (await app.fetch('/streams/v1/images.json')).status === 200);
  });

  it('answers a metrics scrape while PostgreSQL is away, the gauges it counts at their last values', async () => {
    const scrape = async () => {
      const res = await fetch(app.server.urls.metrics as string);
      return { status: res.status, lines: (await res.text()).split('\n') };
    };
    const value = (lines: string[], sample: string) =>
      lines.find((l) => l.startsWith(`${sample} `))?.slice(sample.length + 1);
    const samples = [
      'imgsrv_publish_jobs{state="succeeded"}',
      'imgsrv_publish_steps{state="queued"}',
      'imgsrv_publish_oldest_step_age_seconds{state="queued"}',
      'imgsrv_cas_blobs',
      'imgsrv_upload_sessions{state="ready"}',
      'imgsrv_webhook_deliveries{state="pending"}',
      'imgsrv_storage_cited_bytes',
    ];
    const up = await scrape();
    expect(up.status).toBe(200);
    for (const sample of samples) expect(value(up.lines, sample)).toBe('0');
    await pgProxy.stop();
    try {
      const down = await scrape();
      expect(down.status).toBe(200);
      for (const sample of samples)
        expect([sample, value(down.lines, sample)]).toEqual([sample, '0']);
      expect(app.logs.text()).toMatch(/could not read figures for the metrics/);
    } finally {
      await pgProxy.start();
    }
  });

  it('names PostgreSQL when it is down and recovers without a restart', async () => {
    await pgProxy.stop();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      code: 'NOT_READY',
      checks: { database: 'fail', redis: 'ok' },
    });
    expect(down.body.detail).toMatch(/database/);
    await pgProxy.start();
    await eventually(async () => (await readiness()).status === 200);
  });
});
