import { mayBecomeSimpleRequest, readSimpleRequestHead } from './request-head';

const PATHS = new Set(['/streams/v1/images.json', '/streams/v1/index.json']);
const MAX = 16 * 1024;
const read = (text: string) => readSimpleRequestHead(Buffer.from(text, 'latin1'), PATHS, MAX);

describe('readSimpleRequestHead', () => {
  it('reads a GET with the headers it keeps, names lower-cased, and its length', () => {
    const head =
      'GET /streams/v1/images.json HTTP/1.1\r\nHost: h\r\nIf-None-Match: "a"\r\n' +
      'Accept-Encoding: gzip\r\nUser-Agent: Go-http-client/1.1\r\nX-Request-Id: trace-0001\r\n\r\n';
    expect(read(`${head}GET /next`)).toEqual({
      request: {
        method: 'GET',
        path: '/streams/v1/images.json',
        headers: {
          'if-none-match': '"a"',
          'accept-encoding': 'gzip',
          'x-request-id': 'trace-0001',
        },
        close: false,
      },
      length: Buffer.byteLength(head),
    });
  });

  it('reads HEAD, trims optional whitespace, and joins repeated headers as Node does', () => {
    const parsed = read(
      'HEAD /streams/v1/index.json HTTP/1.1\r\nhost:h\r\nIf-None-Match:  "a" \t\r\n' +
        'if-none-match: "b"\r\n\r\n',
    );
    expect(parsed?.request).toEqual({
      method: 'HEAD',
      path: '/streams/v1/index.json',
      headers: { 'if-none-match': '"a", "b"' },
      close: false,
    });
  });

  it('notes Connection: close among other connection options', () => {
    const parsed = read(
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n',
    );
    expect(parsed?.request.close).toBe(true);
  });

  it.each([
    ['an incomplete head', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\n'],
    ['another method', 'POST /streams/v1/index.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['a lower-case method', 'get /streams/v1/index.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['another path', 'GET /v1/images HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['a query string', 'GET /streams/v1/index.json?x=1 HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['an encoded path', 'GET /streams/v1/%69ndex.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['a dot segment', 'GET /streams/v1/../v1/index.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['an absolute-form target', 'GET http://h/streams/v1/index.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['HTTP/1.0', 'GET /streams/v1/index.json HTTP/1.0\r\nHost: h\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['two spaces in the request line', 'GET  /streams/v1/index.json HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['no Host', 'GET /streams/v1/index.json HTTP/1.1\r\nAccept: */*\r\n\r\n'],
    ['an empty Host', 'GET /streams/v1/index.json HTTP/1.1\r\nHost:\r\n\r\n'],
    ['two Hosts', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    [
      'credentials',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nAuthorization: Basic eDp5\r\n\r\n',
    ],
    [
      'a body length',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n',
    ],
    [
      'a chunked body',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['Expect', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n'],
    [
      'an upgrade',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    ],
    ['a bare LF', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\nX: y\r\n\r\n'],
    ['a bare CR', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\rX: y\r\n\r\n'],
    [
      'an obsolete line fold',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n',
    ],
    ['space before the colon', 'GET /streams/v1/index.json HTTP/1.1\r\nHost : h\r\n\r\n'],
    [
      'a line without a colon',
      'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nnonsense\r\n\r\n',
    ],
    ['a control character', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n'],
    ['a byte above ASCII', 'GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n'],
  ])('leaves %s to Node', (_what, text) => {
    expect(read(text)).toBeUndefined();
  });

  it('leaves a head longer than the limit to Node', () => {
    const text = `GET /streams/v1/index.json HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(MAX)}\r\n\r\n`;
    expect(read(text)).toBeUndefined();
    expect(readSimpleRequestHead(Buffer.from(text), PATHS, 2 * MAX)).toBeDefined();
  });
});

describe('mayBecomeSimpleRequest', () => {
  const may = (text: string) => mayBecomeSimpleRequest(Buffer.from(text, 'latin1'), MAX);

  it.each([
    'G',
    'GE',
    'GET',
    'GET ',
    'HEAD /',
    'GET /streams/v1/images.json HTTP/1.1\r',
    'GET /streams/v1/images.json HTTP/1.1\r\nHo',
    'GET /streams/v1/images.json HTTP/1.1\r\nHost: h\r\n\r',
  ])('waits for more after %j', (text) => expect(may(text)).toBe(true));

  it.each([
    'P',
    'POST /',
    'GET  /',
    'HEADER',
    'GET x',
    'GET / HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET /healthz\r\n',
    'GET /healthz HTTP/1.0\r\nHost: h\r\n',
    'GET /healthz HTTP/1.1\n',
    'GET /healthz HTTP/1.1\nHost: x\n\n',
    'GET /healthz HTTP/1.1\r\nHost: x\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: x\rX: y',
  ])('gives up on %j', (text) => expect(may(text)).toBe(false));

  it('gives up once the partial head reaches the limit', () => {
    expect(may(`GET /${'a'.repeat(MAX)}`)).toBe(false);
  });
});
