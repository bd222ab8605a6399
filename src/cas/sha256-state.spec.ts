import { createHash, randomBytes } from 'node:crypto';
import { FastSha256, ResumableSha256 } from './sha256-state';

describe('ResumableSha256', () => {
  it('continues from a saved state to the same digest as one pass', async () => {
    const data = randomBytes(1_000_003);
    const expected = createHash('sha256').update(data).digest('hex');
    const first = await ResumableSha256.create();
    first.update(data.subarray(0, 333_333));
    const state = first.save();
    const second = await ResumableSha256.create(state);
    second.update(data.subarray(333_333, 700_001));
    const third = await ResumableSha256.create(second.save());
    third.update(data.subarray(700_001));
    expect(third.hex()).toBe(expected);
  });

  it('gives the digest of a saved state without consuming it', async () => {
    const h = await ResumableSha256.create();
    h.update(Buffer.from('abc'));
    const state = h.save();
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
    slow.update(data);
    fast.update(data);
    expect(slow.hex()).toBe(fast.hex());
  });
});
