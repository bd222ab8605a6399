import { createHash, randomBytes } from 'node:crypto';
import { createSHA256 } from 'hash-wasm';
import { ctxFromSaved, loadSha256Addon, savedFromCtx, type Sha256Addon } from './sha256-native';
import { resumableSha256Engine, ResumableSha256 } from './sha256-state';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('the native SHA-256 and its saved state', () => {
  let addon: Sha256Addon;
  let tag: Uint8Array;

  beforeAll(async () => {
    const loaded = loadSha256Addon();
    // `npm install` builds it on every machine the suite runs on; not loading is a failure here.
    if (!('addon' in loaded)) throw new Error(loaded.reason);
    addon = loaded.addon;
    const wasm = await createSHA256();
    wasm.init();
    tag = wasm.save().slice(0, 4);
  });

  it('is what resumable hashes run', async () => {
    expect(await resumableSha256Engine()).toBe('native');
  });

  it('hashes as node:crypto does', () => {
    for (const length of [0, 1, 3, 64, 1000, 1_000_003]) {
      const data = randomBytes(length);
      const state = addon.init();
      addon.update(state, data.subarray(0, length >> 1));
      addon.update(state, data.subarray(length >> 1));
      expect(addon.digest(state).toString('hex')).toBe(sha256(data));
      // digest leaves the state as it was
      expect(addon.digest(state).toString('hex')).toBe(sha256(data));
    }
  });

  // Every split point around block boundaries, both directions: a state saved by hash-wasm (an
  // upload begun before this addon existed, or on a process where it cannot load) continues
  // natively, and a native one continues in hash-wasm.
  const splits = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 4095, 4096, 65_537];
  it.each(splits)('moves a state split after %i bytes between hash-wasm and native', async (at) => {
    const data = randomBytes(at + 1_000);
    const expected = sha256(data);

    const wasm = await createSHA256();
    wasm.init();
    wasm.update(data.subarray(0, at));
    const ctx = ctxFromSaved(wasm.save(), addon.layout(), tag);
    addon.update(ctx, data.subarray(at));
    expect(addon.digest(ctx).toString('hex')).toBe(expected);

    const native = addon.init();
    addon.update(native, data.subarray(0, at));
    const saved = savedFromCtx(native, addon.layout(), tag);
    const resumed = await createSHA256();
    resumed.load(saved);
    resumed.update(data.subarray(at));
    expect(resumed.digest('hex')).toBe(expected);
  });

  it('keeps the saved form hash-wasm writes, byte for byte where it is defined', async () => {
    const data = randomBytes(200);
    const wasm = await createSHA256();
    wasm.init();
    wasm.update(data);
    const native = addon.init();
    addon.update(native, data);
    const mine = savedFromCtx(native, addon.layout(), tag);
    const theirs = Buffer.from(wasm.save());
    const buffered = 200 % 64;
    // the tag and the buffered bytes, then length, words and digest length
    expect(mine.subarray(0, 4 + buffered)).toEqual(theirs.subarray(0, 4 + buffered));
    expect(mine.subarray(68)).toEqual(theirs.subarray(68));
  });

  it('refuses a state of another length, tag or algorithm', async () => {
    const layout = addon.layout();
    expect(() => ctxFromSaved(Uint8Array.of(1, 2, 3), layout, tag)).toThrow(/Bad state length/);
    const saved = savedFromCtx(addon.init(), layout, tag);
    const otherTag = Buffer.from(saved);
    otherTag[0] ^= 0xff;
    expect(() => ctxFromSaved(otherTag, layout, tag)).toThrow(/incompatible/);
    const otherLength = Buffer.from(saved);
    otherLength.writeUInt32LE(64, 108);
    expect(() => ctxFromSaved(otherLength, layout, tag)).toThrow(/not a SHA-256 state/);
    await expect(ResumableSha256.create(otherTag)).rejects.toThrow(/incompatible/);
  });

  it('hashes on the pool as update does, one settled call after another', async () => {
    const data = randomBytes(3_000_001);
    const state = addon.init();
    for (let offset = 0; offset < data.length; offset += 777_777)
      await addon.updateAsync(state, data.subarray(offset, offset + 777_777));
    await addon.updateAsync(state, new Uint8Array(0));
    expect(addon.digest(state).toString('hex')).toBe(sha256(data));
    // several runs in one call, in order
    const several = addon.init();
    await addon.updateAsync(several, [data.subarray(0, 5), new Uint8Array(0), data.subarray(5)]);
    await addon.updateAsync(several, []);
    expect(addon.digest(several).toString('hex')).toBe(sha256(data));
    expect(() => addon.updateAsync(several, [data, 'x' as unknown as Uint8Array])).toThrow(
      /Uint8Array/,
    );
    expect(() => addon.updateAsync(Buffer.alloc(3), data)).toThrow(/state must be a Buffer/);
    expect(() => addon.updateAsync(state, 'x' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });

  it('refuses a state Buffer of the wrong size in the addon', () => {
    expect(() => addon.update(Buffer.alloc(3), Buffer.from('x'))).toThrow(/state must be a Buffer/);
    expect(() => addon.update(addon.init(), 'x' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });
});
