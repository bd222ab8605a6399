import { formatBinaryBytes, unstorableText } from './text';

describe('formatBinaryBytes', () => {
  it('formats sizes in binary units with one decimal', () => {
    expect(formatBinaryBytes(512)).toBe('512 B');
    expect(formatBinaryBytes(1536)).toBe('1.5 KiB');
    expect(formatBinaryBytes(300 * 1024 * 1024)).toBe('300.0 MiB');
    expect(formatBinaryBytes(2 ** 50)).toBe('1024.0 TiB');
  });
});

describe('unstorableText', () => {
  it('names NUL and lone surrogates, and passes other text', () => {
    expect(unstorableText('a\u0000b')).toMatch(/NUL/);
    expect(unstorableText('a\ud800b')).toMatch(/surrogate/);
    expect(unstorableText('débian 😀')).toBeNull();
  });
});
