import { createHash, randomBytes } from 'node:crypto';
import { FastSha256, ResumableSha256 } from './sha256-state';

describe('ResumableSha256', () => {
  it('continues from a saved state to the same digest as one pass', async () => {
    const data = randomBytes(1_000_003);
    const expected = createHash('sha256').update(data).digest('hex');
    const first = await ResumableSha256.create();
    await first.update(data.subarray(0, 333_333));
    const state = await first.save();
    const second = await ResumableSha256.create(state);
    await second.update(data.subarray(333_333, 700_001));
    const third = await ResumableSha256.create(await second.save());
    await third.update(data.subarray(700_001));
    expect(await third.hex()).toBe(expected);
  });

  it('gives the digest of a saved state without consuming it', async () => {
    const h = await ResumableSha256.create();
    await h.update(Buffer.from('abc'));
    const state = await h.save();
    const digest = createHash('sha256').update('abc').digest('hex');
    expect(await ResumableSha256.digestOfState(state)).toBe(digest);
    expect(await ResumableSha256.digestOfState(state)).toBe(digest);
  });

  it('refuses a state it did not write', async () => {
    await expect(ResumableSha256.create(Uint8Array.of(1, 2, 3))).rejects.toThrow();
  });

  it('agrees with the fast hash', async () => {
    const data = randomBytes(70_000);
    const slow = await ResumableSha256.create();
    const fast = new FastSha256();
    await slow.update(data);
    fast.update(data);
    expect(await slow.hex()).toBe(fast.hex());
  });

  it('asks the caller to wait while much is queued, and loses nothing meanwhile', async () => {
    const data = randomBytes(40 * 1024 * 1024);
    const h = await ResumableSha256.create();
    let waits = 0;
    for (let offset = 0; offset < data.length; offset += 1024 * 1024) {
      const pending = h.update(data.subarray(offset, offset + 1024 * 1024));
      if (pending) {
        waits++;
        await pending;
      }
    }
    expect(waits).toBeGreaterThan(0);
    expect(await h.hex()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('hashes many states at once without mixing them up', async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => randomBytes(100_000 + i));
    const hashers = await Promise.all(inputs.map(() => ResumableSha256.create()));
    for (let offset = 0; offset < 100_010; offset += 7_000)
      for (const [i, h] of hashers.entries())
        await h.update(inputs[i].subarray(offset, offset + 7_000));
    const digests = await Promise.all(hashers.map((h) => h.hex()));
    expect(digests).toEqual(inputs.map((d) => createHash('sha256').update(d).digest('hex')));
  });
});
