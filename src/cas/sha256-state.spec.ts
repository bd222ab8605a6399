import { createHash, randomBytes } from 'node:crypto';
import { FastSha256, ResumableSha256 } from './sha256-state';

const ENGINES = [['native'], ['wasm']] as const;

describe.each(ENGINES)('ResumableSha256 (%s)', (engine) => {
  const create = (state?: Uint8Array) =>
    ResumableSha256.create(state, engine === 'wasm' ? { engine: 'wasm' } : {});

  it('continues from a saved state to the same digest as one pass', async () => {
    const data = randomBytes(1_000_003);
    const expected = createHash('sha256').update(data).digest('hex');
    const first = await create();
    await first.update(data.subarray(0, 333_333));
    const state = await first.save();
    const second = await create(state);
    await second.update(data.subarray(333_333, 700_001));
    const third = await create(await second.save());
    await third.update(data.subarray(700_001));
    expect(await third.hex()).toBe(expected);
  });

  it('gives the digest of a saved state without consuming it', async () => {
    const h = await create();
    await h.update(Buffer.from('abc'));
    const state = await h.save();
    const digest = createHash('sha256').update('abc').digest('hex');
    expect(await ResumableSha256.digestOfState(state)).toBe(digest);
    expect(await ResumableSha256.digestOfState(state)).toBe(digest);
  });

  it('refuses a state it did not write', async () => {
    await expect(create(Uint8Array.of(1, 2, 3))).rejects.toThrow();
  });

  it('agrees with the fast hash', async () => {
    const data = randomBytes(70_000);
    const slow = await create();
    const fast = new FastSha256();
    await slow.update(data);
    fast.update(data);
    expect(await slow.hex()).toBe(fast.hex());
  });

  it('asks the caller to wait while much is queued, and loses nothing meanwhile', async () => {
    const data = randomBytes(40 * 1024 * 1024);
    const h = await create();
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
    const hashers = await Promise.all(inputs.map(() => create()));
    for (let offset = 0; offset < 100_010; offset += 7_000)
      for (const [i, h] of hashers.entries())
        await h.update(inputs[i].subarray(offset, offset + 7_000));
    const digests = await Promise.all(hashers.map((h) => h.hex()));
    expect(digests).toEqual(inputs.map((d) => createHash('sha256').update(d).digest('hex')));
  });
});

describe('ResumableSha256 across engines', () => {
  it('continues a state saved by either engine in the other, state for state', async () => {
    const data = randomBytes(3_000_017);
    const expected = createHash('sha256').update(data).digest('hex');
    const cuts = [0, 64, 1_000_001, 1_000_064, 2_500_003, data.length];
    for (const first of ['native', 'wasm'] as const) {
      let state: Buffer | null = null;
      for (let i = 0; i + 1 < cuts.length; i++) {
        // alternate engines at every cut, starting with `first`
        const wasm = (i % 2 === 0) === (first === 'wasm');
        const h = await ResumableSha256.create(state, wasm ? { engine: 'wasm' } : {});
        const pending = h.update(data.subarray(cuts[i], cuts[i + 1]));
        if (pending) await pending;
        state = await h.save();
        if (i + 2 === cuts.length) expect(await h.hex()).toBe(expected);
      }
      expect(await ResumableSha256.digestOfState(state!)).toBe(expected);
      expect(await ResumableSha256.digestOfState(state!)).toBe(expected);
    }
  });

  it('hashes a chunk in place: the chunk given is what is hashed, without a copy', async () => {
    // The native engine reads the caller's chunk on a pool thread after update returns; the
    // chunk is kept alive until it is hashed even when the caller lets go of it at once.
    const h = await ResumableSha256.create();
    const expected = createHash('sha256');
    for (let i = 0; i < 64; i++) {
      const chunk = randomBytes(256 * 1024);
      expected.update(chunk);
      const pending = h.update(chunk);
      if (pending) await pending;
    }
    expect(await h.hex()).toBe(expected.digest('hex'));
  });
});
