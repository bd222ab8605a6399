import { gunzipSync } from 'node:zlib';
import { metric } from '../support/publish';
import { RawConnection, rawRequest as get } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';

const IMAGES = '/streams/v1/images.json';
const INDEX = '/streams/v1/index.json';

/**
 * The connection front answers anonymous reads of the streams documents ahead of Node's HTTP
 * server and hands a connection to it, bytes intact, at the first request it does not fully
 * understand. These tests talk raw HTTP/1.1 to see exactly what crosses the socket.
 */
describe('the streams connection front', () => {
  let app: TestApp;
  let reference: { images: string; index: string; etag: string };

  const frontCount = async (outcome: 'answered' | 'handed_off') =>
    (await metric(app, `imgsrv_http_front_total{outcome="${outcome}"}`)) ?? 0;
  const counts = async () => ({
    answered: await frontCount('answered'),
    handedOff: await frontCount('handed_off'),
  });

  beforeAll(async () => {
    app = await startTestApp();
    // A query string is not simple: these reads go through Node's server and the application.
    const images = await app.fetch(`${IMAGES}?via=node`);
    const index = await app.fetch(`${INDEX}?via=node`);
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

    expect(await counts()).toEqual({
      answered: before.answered + 4,
      handedOff: before.handedOff,
    });
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

  it('hands the connection to the application at its first other request, every byte after it intact', async () => {
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
    expect(await counts()).toEqual({
      answered: before.answered + 1,
      handedOff: before.handedOff + 1,
    });
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
    expect(await counts()).toEqual({ answered: before.answered + 2, handedOff: before.handedOff });
  });

  it('hands over a connection whose first bytes cannot begin a simple request', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.url);
    const request = `POST /v1/images HTTP/1.1\r\nHost: imgsrv.test\r\nContent-Length: 0\r\n\r\n`;
    await c.write(request.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await c.write(request.slice(10));
    const [answer] = await c.read(['POST']);
    c.destroy();
    expect(answer.status).toBe(401);
    expect(await counts()).toEqual({ answered: before.answered, handedOff: before.handedOff + 1 });
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

  it('answers over HTTPS the same way and hands over there too', async () => {
    const before = await counts();
    const c = await RawConnection.open(app.server.urls.https as string);
    await c.write(get(IMAGES) + get('/healthz') + get(IMAGES));
    const answers = await c.read(['GET', 'GET', 'GET']);
    c.destroy();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[0].body.toString()).toBe(reference.images);
    expect(answers[2].body.toString()).toBe(reference.images);
    expect(await counts()).toEqual({
      answered: before.answered + 1,
      handedOff: before.handedOff + 1,
    });
  });

  it('closes its idle connections when the server closes, as Node does its own', async () => {
    const other = await startTestApp({ database: app.database });
    try {
      const c = await RawConnection.open(other.url);
      await c.write(get(IMAGES));
      await c.read(['GET']);
      // Without the front's connections in closeIdleConnections, close() would wait for this
      // idle keep-alive connection until its 65-second timeout.
      const closed = new Promise((resolve) => other.server.application.httpServer.close(resolve));
      await c.closed;
      await closed;
    } finally {
      await other.close();
    }
  });
});
