import { RawConnection, rawRequest, within } from '../support/raw-http';
import { startTestApp, type TestApp } from '../support/test-app';

const INDEX = '/streams/v1/index.json';

const REFUSED: [string, string][] = [
  ['two Hosts', 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['two Hosts on a streams document', `GET ${INDEX} HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n`],
  ['two Hosts in HTTP/1.0', 'GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n'],
  ['no version', 'GET /healthz\r\n\r\n'],
  ['no version on a streams document', `GET ${INDEX}\r\n\r\n`],
  ['bare LF line ends', 'GET /healthz HTTP/1.1\nHost: x\n\n'],
  ['bare LF line ends on a streams document', `GET ${INDEX} HTTP/1.1\nHost: x\n\n`],
  ['a bare LF ending the head', 'GET /healthz HTTP/1.1\r\nHost: x\n\r\n'],
  ['a bare LF after a header', `GET ${INDEX} HTTP/1.1\r\nHost: x\n`],
  ['a bare CR', 'GET /healthz HTTP/1.1\r\nHost: x\rX-Y: z\r\n\r\n'],
];

/**
 * Request heads an HTTP parser may be lenient about, found by a fuzz pass: two Host headers and a
 * request line without a version got answers, bare-LF line ends waited 5 seconds at the
 * connection front. Each is refused at once with 400 problem+json and the connection closed,
 * whether the connection front reads the head first (public reads on) or only Node's parser does.
 */
describe.each([true, false])(
  'heads a parser could be lenient about (public reads: %s)',
  (front) => {
    let app: TestApp;

    beforeAll(async () => {
      app = await startTestApp({ env: { IMGSRV_PUBLIC_READ: String(front) } });
    });
    afterAll(() => app.close());

    describe.each([false, true])('over TLS: %s', (tls) => {
      const url = () => (tls ? (app.server.urls.https ?? '') : app.url);

      it.each(REFUSED)(
        'refuses %s at once with 400 problem+json and closes',
        async (_what, raw) => {
          const conn = await RawConnection.open(url());
          const sent = Date.now();
          await conn.write(raw);
          const [answer] = await within(5_000, conn.read(['GET']), 'the answer');
          const answeredMs = Date.now() - sent;
          await within(5_000, conn.closed, 'the close');
          const closedMs = Date.now() - sent;
          expect([
            answer.status,
            answer.headers['content-type'],
            answer.headers.connection,
          ]).toEqual([400, 'application/problem+json', 'close']);
          expect(JSON.parse(answer.body.toString())).toMatchObject({
            status: 400,
            code: 'BAD_REQUEST',
          });
          expect(answeredMs).toBeLessThan(3_000); // the bug waited 5 s; a busy machine, not 1 s
          expect(closedMs).toBeLessThan(3_000);
        },
      );

      it('answers one Host, CRLF line ends and a version, and keeps the connection', async () => {
        const conn = await RawConnection.open(url());
        await conn.write(rawRequest('/healthz') + rawRequest(INDEX, {}, 'HEAD'));
        const answers = await within(5_000, conn.read(['GET', 'HEAD']), 'the answers');
        conn.destroy();
        expect(answers.map((a) => [a.status, a.headers.connection])).toEqual([
          [200, 'keep-alive'],
          [front ? 200 : 401, 'keep-alive'],
        ]);
      });
    });
  },
);
