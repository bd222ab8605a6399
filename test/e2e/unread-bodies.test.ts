import { connect } from 'node:net';
import { LINGER_IDLE_MS } from '../../src/server/unread-body';
import { issueIdentity, type IssuedIdentity } from '../support/auth';
import { RawConnection, rawRequest, within, type RawResponse } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PART = '/v1/uploads/00000000-0000-4000-8000-000000000000/parts/1';
const MB = 1_000_000;

interface Early {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The body bytes sent with the head, before the answer. */
  readonly sent: string;
  /** The rest of the body, sent after the answer if the connection is kept. */
  readonly rest?: string;
}

/**
 * A route that answers before it reads the request body (no token, no such route, a media type
 * it refuses) must not leave the rest of that body between the client and its next request, which
 * used to wait out the 65-second keep-alive timeout. A small remainder is read and dropped, the
 * connection kept; a larger one (or one of unknown length) is answered with Connection: close.
 * Either way the client's next request is answered at once.
 */
describe('answers that leave a request body unread', () => {
  let app: TestApp;
  let writer: IssuedIdentity;

  beforeAll(async () => {
    app = await startTestApp();
    writer = await issueIdentity(app, 'content-writer');
  });
  afterAll(() => app.close());

  /**
   * Sends the request, reads its early answer, then asks GET /healthz as an HTTP client would:
   * on the same connection unless the answer closed it, else on a new one.
   */
  async function answerThenNext(url: string, request: Early) {
    const conn = await RawConnection.open(url);
    const headers = { ...request.headers };
    // Not awaited: the server may never read a large body, so the write may never complete.
    void conn.write(rawRequest(request.path, headers, request.method) + request.sent);
    const [answer] = await within(5_000, conn.read([request.method]), 'the early answer');
    const answered = Date.now();
    let next: RawResponse;
    const reused = answer.headers.connection !== 'close';
    if (reused) {
      void conn.write((request.rest ?? '') + rawRequest('/healthz'));
      [next] = await within(5_000, conn.read(['GET']), 'the next answer');
      conn.destroy();
    } else {
      await within(5_000, conn.closed, 'the close');
      const again = await RawConnection.open(url);
      await again.write(rawRequest('/healthz'));
      [next] = await within(5_000, again.read(['GET']), 'the next answer');
      again.destroy();
    }
    return { answer, next, reused, ms: Date.now() - answered };
  }

  const problemCode = (answer: RawResponse) =>
    (JSON.parse(answer.body.toString()) as { code: string }).code;

  it.each([
    [
      'an upload part without a token',
      {
        method: 'PUT',
        path: PART,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(MB) },
        sent: 'a'.repeat(200_000),
      },
      401,
      'UNAUTHENTICATED',
    ],
    [
      'a chunked upload part without a token',
      {
        method: 'PUT',
        path: PART,
        headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
        sent: `30d40\r\n${'a'.repeat(200_000)}\r\n`,
      },
      401,
      'UNAUTHENTICATED',
    ],
    [
      'a body to a route that does not exist',
      {
        method: 'POST',
        path: '/v1/no-such-route',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(MB) },
        sent: 'a'.repeat(200_000),
      },
      404,
      'ROUTE_NOT_FOUND',
    ],
  ] as const)(
    'closes the connection after answering %s early, and the next request is answered at once',
    async (_what, request, status, code) => {
      for (const url of [app.url, app.server.urls.https ?? '']) {
        const { answer, next, reused, ms } = await answerThenNext(url, request);
        expect([url, answer.status, problemCode(answer), answer.headers.connection]).toEqual([
          url,
          status,
          code,
          'close',
        ]);
        expect(answer.headers['keep-alive']).toBeUndefined();
        expect([reused, next.status]).toEqual([false, 200]);
        expect(ms).toBeLessThan(0.9 * LINGER_IDLE_MS); // under a lingering close's wait
      }
    },
  );

  it('closes the connection after refusing an XML body on a JSON route (415)', async () => {
    const { answer, next, reused, ms } = await answerThenNext(app.url, {
      method: 'POST',
      path: '/v1/images',
      headers: {
        ...writer.headers,
        'Content-Type': 'application/xml',
        'Content-Length': String(MB),
      },
      sent: `<image>${'a'.repeat(200_000)}`,
    });
    expect([answer.status, problemCode(answer), answer.headers.connection]).toEqual([
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'close',
    ]);
    expect([reused, next.status]).toEqual([false, 200]);
    expect(ms).toBeLessThan(0.9 * LINGER_IDLE_MS);
  });

  it('reads on what a client still sends after the close answer, and closes once it pauses', async () => {
    // Closing at once with the client's bytes unread would reset the connection, and a client
    // still sending could lose the answer to the reset before reading it.
    const { hostname, port } = new URL(app.url);
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
    socket.on('error', () => undefined);
    let received = '';
    let feeding: NodeJS.Timeout | undefined;
    const answered = new Promise<number>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('\r\n\r\n')) resolve(Date.now());
      }),
    );
    const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now())));
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => {
        clearInterval(feeding);
        resolve(Date.now());
      }),
    );
    socket.write(rawRequest(PART, { 'Content-Length': String(100 * MB) }, 'PUT'));
    feeding = setInterval(() => socket.write(Buffer.alloc(20_000)), 20);

    const answerAt = await within(5_000, answered, 'the answer');
    const endAt = await within(5_000, ended, 'the end of the answer');
    // Goes on sending for longer than the pause that closes a lingering connection: all read.
    await sleep(LINGER_IDLE_MS * 1.5);
    const stopAt = Date.now();
    clearInterval(feeding);
    // Once it paused long enough the server closed: a client learns it when it sends again (the
    // first byte is answered with a reset, the next write fails).
    await sleep(LINGER_IDLE_MS + 1_000);
    feeding = setInterval(() => socket.write('a'), 100);
    const closeAt = await within(5_000, closed, 'the close');

    expect(received).toMatch(/^HTTP\/1\.1 401 [^]*\r\nConnection: close\r\n/i);
    expect(endAt - answerAt).toBeLessThan(2_500);
    expect(closeAt).toBeGreaterThan(stopAt + LINGER_IDLE_MS);
  });

  it.each([
    [
      'the rest of a 60 kB part without a token, sent after the 401',
      { path: PART, sent: 'a'.repeat(1_000), rest: 'a'.repeat(59_000) },
      401,
    ],
    [
      'a whole 60 kB body to a route that does not exist',
      { path: '/v1/no-such-route', sent: 'a'.repeat(60_000), rest: '' },
      404,
    ],
  ] as const)(
    'reads and drops %s, and keeps the connection for the next request',
    async (_what, { path, sent, rest }, status) => {
      const length = sent.length + rest.length;
      const { answer, next, reused, ms } = await answerThenNext(app.url, {
        method: 'PUT',
        path,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(length),
        },
        sent,
        rest,
      });
      expect([answer.status, answer.headers.connection]).toEqual([status, 'keep-alive']);
      expect([reused, next.status]).toEqual([true, 200]);
      expect(JSON.parse(next.body.toString())).toEqual({ status: 'ok' });
      expect(ms).toBeLessThan(0.9 * LINGER_IDLE_MS);
    },
  );
});
