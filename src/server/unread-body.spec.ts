import { Agent, createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  DRAINED_BODY_BYTES,
  lastResponseUnderWay,
  responseUnderWay,
  UnreadBodyResponse,
  unreadBodyTooLarge,
} from './unread-body';

const request = (complete: boolean, headers: Record<string, string>) =>
  ({ complete, headers }) as unknown as IncomingMessage;

describe('unreadBodyTooLarge', () => {
  it.each([
    ['no body', false, {}],
    ['an empty body', false, { 'content-length': '0' }],
    ['a body up to the drained size', false, { 'content-length': String(DRAINED_BODY_BYTES) }],
    ['a large body already received', true, { 'content-length': '1000000' }],
    ['a chunked body already received', true, { 'transfer-encoding': 'chunked' }],
  ])('keeps the connection for %s', (_what, complete, headers) =>
    expect(unreadBodyTooLarge(request(complete, headers))).toBe(false),
  );

  it.each([
    ['a body over the drained size', { 'content-length': String(DRAINED_BODY_BYTES + 1) }],
    ['a chunked body', { 'transfer-encoding': 'chunked' }],
  ])('closes the connection for %s still arriving', (_what, headers) =>
    expect(unreadBodyTooLarge(request(false, headers))).toBe(true),
  );
});

describe('responses under way', () => {
  it('holds each response of a kept connection while it is answered, and none after', async () => {
    const seen: { socket: Socket; during: ServerResponse | undefined; last: unknown }[] = [];
    const closed: Promise<void>[] = [];
    const server = createServer({ ServerResponse: UnreadBodyResponse }, (req, res) => {
      const socket = req.socket;
      seen.push({ socket, during: responseUnderWay(socket), last: lastResponseUnderWay(socket) });
      closed.push(new Promise((resolve) => res.on('close', () => resolve())));
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const { port } = server.address() as AddressInfo;
      for (let i = 0; i < 3; i++)
        await new Promise<void>((resolve, reject) =>
          get({ port, host: '127.0.0.1', path: `/${i}`, agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          }).on('error', reject),
        );
      await Promise.all(closed);
      expect(seen).toHaveLength(3);
      expect(new Set(seen.map((s) => s.socket)).size).toBe(1); // one kept connection
      for (const s of seen) {
        expect(s.during).toBeInstanceOf(UnreadBodyResponse);
        expect(s.last).toBe(s.during);
      }
      // Each answer left the connection's list as it closed: nothing is under way now.
      expect(responseUnderWay(seen[0].socket)).toBeUndefined();
      expect(lastResponseUnderWay(seen[0].socket)).toBeUndefined();
    } finally {
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
