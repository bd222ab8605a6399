import type { IncomingMessage } from 'node:http';
import { DRAINED_BODY_BYTES, unreadBodyTooLarge } from './unread-body';

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
