import type { LookupAddress } from 'node:dns';
import { Webhook } from 'standardwebhooks';
import { envelope } from './event-payload';
import { newWebhookSecret } from './webhooks.service';
import { guardedLookup, signedHeaders, TargetRefusedError } from './webhook-sender';

type Resolve = Parameters<typeof guardedLookup>[1];

/** A resolver answering `addresses` for every name. */
const fakeResolver = (addresses: string[]): Resolve =>
  ((_host: string, _options: unknown, callback: (e: Error | null, a: LookupAddress[]) => void) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as unknown as Resolve;

function lookupWith(allowed: string[], addresses: string[], all: boolean) {
  return new Promise<{ error: Error | null; result: unknown }>((resolve) =>
    (
      guardedLookup(allowed, fakeResolver(addresses)) as unknown as (
        h: string,
        o: { all: boolean },
        cb: (e: Error | null, ...rest: unknown[]) => void,
      ) => void
    )('hooks.example', { all }, (error, ...rest) => resolve({ error, result: rest })),
  );
}

describe('signing', () => {
  it('signs as the standardwebhooks library verifies, with a whsec_ secret', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = envelope({
      id: 'e-1',
      type: 'ping',
      occurredAt: new Date(),
      data: { subscription_id: 's' },
    });
    const headers = signedHeaders(secret, 'e-1', body, new Date());
    expect(headers['webhook-id']).toBe('e-1');
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
  });
});

describe('the guarded resolver', () => {
  it('answers public addresses in the form the caller asked for', async () => {
    expect(await lookupWith([], ['93.184.216.34'], false)).toEqual({
      error: null,
      result: ['93.184.216.34', 4],
    });
    expect(await lookupWith([], ['93.184.216.34', '2606:4700::1111'], true)).toEqual({
      error: null,
      result: [
        [
          { address: '93.184.216.34', family: 4 },
          { address: '2606:4700::1111', family: 6 },
        ],
      ],
    });
  });

  it('refuses a name that resolves to an internal address, unless the name is allowed', async () => {
    const refused = await lookupWith([], ['93.184.216.34', '127.0.0.1'], true);
    expect(refused.error).toBeInstanceOf(TargetRefusedError);
    expect(refused.error?.message).toMatch(
      /hooks\.example resolves to the internal address 127\.0\.0\.1/,
    );
    expect((await lookupWith(['hooks.example'], ['127.0.0.1'], false)).error).toBeNull();
  });
});
