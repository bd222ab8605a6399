import { gunzipSync } from 'node:zlib';
import { metric } from '../support/processes';
import { RawConnection, rawRequest as get } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';

const IMAGES = '/streams/v1/images.json';
const INDEX = '/streams/v1/index.json';

/**
 * With public reads on, the streams fast path answers anonymous reads of the two documents after
 * Node's HTTP parser and before the web framework; every other request on the same connection
 * goes through the framework. These tests talk raw HTTP/1.1 to see exactly what crosses the
 * socket: the same bytes and headers either way, pipelined answers in order, backpressure.
 */
describe('the streams fast path', () => {
  let app: TestApp;
  let reference: { images: string; index: string; etag: string };

  const counts = async () => ({
    answered: (await metric(app, 'imgsrv_streams_fast_path_total')) ?? 0,
  });

  beforeAll(async () => {
    app = await startTestApp();
    const images = await app.fetch(IMAGES);
    const index = await app.fetch(INDEX);
    reference = {
      etag: images.headers.get('etag') as string,
      images: await images.text(),
      index: await index.text(),
    };
  });
  afterAll(() => app.close());

  it('answers pipelined simple reads itself, with the bytes and headers of the application', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.url);
    await c.write(
      get(IMAGES) +
        get(INDEX, {}, 'HEAD') +
        get(IMAGES, { 'If-None-Match': reference.etag }) +
        get(IMAGES, { 'Accept-Encoding': 'gzip', 'X-Request-Id': 'trace-front-0001' }),
    );
    const [full, head, notModified, gzipped] = await c.read(['GET', 'HEAD', 'GET', 'GET']);
    c.destroy();

    expect(full.status).toBe(200);
    expect(full.body.toString()).toBe(reference.images);
    expect(full.headers).toMatchObject({
      etag: reference.etag,
      'content-type': 'application/json',
      'cache-control': 'public, max-age=60',
      vary: 'Accept-Encoding, Authorization',
      'content-length': String(Buffer.byteLength(reference.images)),
      connection: 'keep-alive',
      'keep-alive': 'timeout=65',
    });
    expect(full.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(full.headers.date).getTime()).not.toBeNaN();

    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(reference.index)));

    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(reference.etag);
    expect(notModified.headers['content-length']).toBeUndefined();

    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers['x-request-id']).toBe('trace-front-0001');
    expect(gunzipSync(gzipped.body).toString()).toBe(reference.images);

    expect(await counts()).toEqual({ answered: before.answered + 4 });
  });

  it('answers 2,000 pipelined reads in one write in order', async () => {
    const c = await RawConnection.open(app.url);
    const ids = Array.from({ length: 2000 }, (_, i) => `order-${String(i).padStart(6, '0')}`);
    await c.write(ids.map((id) => get(IMAGES, { 'X-Request-Id': id })).join(''));
    const answers = await c.read(ids.map(() => 'GET'));
    c.destroy();
    expect(answers.map((a) => a.headers['x-request-id'])).toEqual(ids);
    expect(answers.every((a) => a.status === 200 && a.body.toString() === reference.images)).toBe(
      true,
    );
  });

  it('stops answering while the client does not read, and goes on when it does', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.url);
    c.pause();
    const total = 50_000; // about 20 MB of answers: more than the kernel buffers on both sides
    void c.write(get(IMAGES).repeat(total));
    // Wait until the server stopped answering: the count stands still while nobody reads.
    let answered = -1;
    for (let now = (await counts()).answered; now !== answered;) {
      answered = now;
      await new Promise((resolve) => setTimeout(resolve, 300));
      now = (await counts()).answered;
    }
    expect(answered - before.answered).toBeGreaterThan(0);
    expect(answered - before.answered).toBeLessThan(total);
    c.resume();
    const answers = await c.read(Array.from({ length: total }, () => 'GET'));
    c.destroy();
    expect(answers.every((a) => a.status === 200 && a.body.toString() === reference.images)).toBe(
      true,
    );
    expect((await counts()).answered).toBe(before.answered + total);
  });

  it('leaves every other request on the connection to the application, in order, every byte intact', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.url);
    const body = JSON.stringify({ name: 'debian-12' });
    await c.write(
      get(IMAGES) +
        get('/healthz') +
        get(IMAGES) +
        `POST /v1/images HTTP/1.1\r\nHost: imgsrv.test\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await c.write(body.slice(5) + get(INDEX));
    const answers = await c.read(['GET', 'GET', 'GET', 'POST', 'GET']);
    c.destroy();

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 401, 200]);
    expect(JSON.parse(answers[1].body.toString())).toMatchObject({ status: 'ok' });
    expect(answers[2].body.toString()).toBe(reference.images);
    expect(answers[3].headers['content-type']).toContain('application/problem+json');
    expect(answers[4].body.toString()).toBe(reference.index);
    expect(await counts()).toEqual({ answered: before.answered + 3 });
  });

  it('waits for the rest of a simple request that arrives in pieces, and answers it', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.url);
    const request = get(IMAGES, { 'X-Request-Id': 'trace-split-0001' });
    await c.write(get(INDEX) + request.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await c.write(request.slice(20, 40));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await c.write(request.slice(40));
    const [index, images] = await c.read(['GET', 'GET']);
    c.destroy();
    expect(index.body.toString()).toBe(reference.index);
    expect(images.body.toString()).toBe(reference.images);
    expect(images.headers['x-request-id']).toBe('trace-split-0001');
    expect(await counts()).toEqual({ answered: before.answered + 2 });
  });

  it('leaves credentials to the application, which checks them', async () => {
    const c = await RawConnection.open(app.url);
    await c.write(
      get(IMAGES, { Authorization: 'Bearer imgsrv_0000000000000000_not-a-real-token' }) +
        get(IMAGES, { Authorization: `Bearer ${app.bootstrapToken}` }),
    );
    const [refused, accepted] = await c.read(['GET', 'GET']);
    c.destroy();
    expect(refused.status).toBe(401);
    expect(accepted.status).toBe(200);
    expect(accepted.body.toString()).toBe(reference.images);
  });

  it('lets Node refuse what is malformed, after answering what came before it', async () => {
    const c = await RawConnection.open(app.url);
    await c.write(
      `${get(IMAGES)}GET ${IMAGES} HTTP/1.1\r\nHost: imgsrv.test\r\nX-Bad: a\nb\r\n\r\n`,
    );
    const [first, refused] = await c.read(['GET', 'GET']);
    await c.closed;
    expect(first.status).toBe(200);
    expect(refused.status).toBe(400);
  });

  it('closes the connection after an answer to Connection: close', async () => {
    const c = await RawConnection.open(app.url);
    await c.write(get(IMAGES, { Connection: 'close' }));
    const [answer] = await c.read(['GET']);
    await c.closed;
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe('close');
    expect(answer.headers['keep-alive']).toBeUndefined();
  });

  it('answers over HTTPS the same way, beside the application', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.server.urls.https as string);
    await c.write(get(IMAGES) + get('/healthz') + get(IMAGES));
    const answers = await c.read(['GET', 'GET', 'GET']);
    c.destroy();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[0].body.toString()).toBe(reference.images);
    expect(answers[2].body.toString()).toBe(reference.images);
    expect(await counts()).toEqual({ answered: before.answered + 2 });
  });

  it('lets the server close its idle connections at once', async () => {
    const other = await startTestApp({ database: app.database });
    try {
      const c = await RawConnection.open(other.url);
      await c.write(get(IMAGES));
      await c.read(['GET']);
      // An idle keep-alive connection that held close() up would wait out its 65-second timeout.
      const closed = new Promise((resolve) => other.server.application.httpServer.close(resolve));
      await c.closed;
      await closed;
    } finally {
      await other.close();
    }
  });
});
