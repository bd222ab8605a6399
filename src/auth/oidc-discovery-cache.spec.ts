import {
  DiscoveryBackoffError,
  DiscoveryBusyError,
  DiscoveryCache,
  type DiscoveryCacheOptions,
} from './oidc-discovery-cache';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('DiscoveryCache', () => {
  let now: number;
  const make = (options: Partial<DiscoveryCacheOptions> = {}) =>
    new DiscoveryCache<string>({
      ttlMs: 600_000,
      backoffBaseMs: 1000,
      backoffCapMs: 300_000,
      maxInFlight: 4,
      now: () => now,
      ...options,
    });
  beforeEach(() => {
    now = 1_000_000;
  });

  it('shares one load among concurrent callers of a key', async () => {
    const cache = make();
    const gate = deferred<string>();
    const load = jest.fn(() => gate.promise);
    const callers = Array.from({ length: 50 }, () => cache.get('a', load));
    gate.resolve('keys');
    expect(await Promise.all(callers)).toEqual(Array(50).fill('keys'));
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('keeps a success for the TTL, then loads again', async () => {
    const cache = make();
    const load = jest.fn(async () => `keys@${now}`);
    expect(await cache.get('a', load)).toBe('keys@1000000');
    now += 599_999;
    expect(await cache.get('a', load)).toBe('keys@1000000');
    now += 1;
    expect(await cache.get('a', load)).toBe('keys@1600000');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('loads early only when the value is older than the age asked for', async () => {
    const cache = make();
    const load = jest.fn(async () => `keys@${now}`);
    await cache.get('a', load);
    now += 10_000;
    expect(await cache.get('a', load, 30_000)).toBe('keys@1000000');
    now += 20_000;
    expect(await cache.get('a', load, 30_000)).toBe('keys@1030000');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('remembers a failure, doubling the wait from 1 s up to 5 min', async () => {
    const cache = make();
    const load = jest.fn(async (): Promise<string> => {
      throw new Error('discovery answered 500');
    });
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      await expect(cache.get('a', load)).rejects.toThrow('discovery answered 500');
      const refused = await cache.get('a', load).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DiscoveryBackoffError);
      expect((refused as DiscoveryBackoffError).failure).toEqual(
        new Error('discovery answered 500'),
      );
      waits.push((refused as DiscoveryBackoffError).retryInMs);
      now += (refused as DiscoveryBackoffError).retryInMs - 1;
      await expect(cache.get('a', load)).rejects.toBeInstanceOf(DiscoveryBackoffError);
      now += 1;
    }
    expect(waits).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000,
    ]);
    expect(load).toHaveBeenCalledTimes(12);
  });

  it('starts the backoff over after a success', async () => {
    const cache = make({ ttlMs: 1 });
    let fail = true;
    const load = async () => {
      if (fail) throw new Error('down');
      return 'keys';
    };
    for (let i = 0; i < 3; i++) {
      await cache.get('a', load).catch(() => undefined);
      now += 10_000;
    }
    fail = false;
    expect(await cache.get('a', load)).toBe('keys');
    fail = true;
    now += 1;
    await expect(cache.get('a', load)).rejects.toThrow('down');
    const refused = (await cache.get('a', load).catch((e: unknown) => e)) as DiscoveryBackoffError;
    expect(refused.retryInMs).toBe(1000);
  });

  it('keeps a good value when an early reload fails', async () => {
    const cache = make();
    await cache.get('a', async () => 'old');
    now += 60_000;
    await expect(
      cache.get('a', async () => Promise.reject(new Error('rotated away')), 30_000),
    ).rejects.toThrow('rotated away');
    expect(await cache.get('a', async () => 'unused')).toBe('old');
  });

  it('turns a load away when every slot is taken, over all keys', async () => {
    const cache = make({ maxInFlight: 2 });
    const gates = [deferred<string>(), deferred<string>()];
    const first = cache.get('a', () => gates[0].promise);
    const second = cache.get('b', () => gates[1].promise);
    const sameKey = cache.get('a', async () => 'unused');
    await expect(cache.get('c', async () => 'c')).rejects.toBeInstanceOf(DiscoveryBusyError);
    gates[0].resolve('a');
    expect(await first).toBe('a');
    expect(await sameKey).toBe('a');
    expect(await cache.get('c', async () => 'c')).toBe('c');
    gates[1].reject(new Error('b down'));
    await expect(second).rejects.toThrow('b down');
    expect(await cache.get('d', async () => 'd')).toBe('d');
  });
});
