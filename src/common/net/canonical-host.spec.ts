import { canonicalHost } from './canonical-host';

describe('canonicalHost', () => {
  it('writes hosts as the URL parser does', () => {
    expect(canonicalHost('::1')).toBe('[::1]');
    expect(canonicalHost('[0::1]')).toBe('[::1]');
    expect(canonicalHost('[::FFFF:127.0.0.1]')).toBe('[::ffff:7f00:1]');
    expect(canonicalHost('LOCALHOST.')).toBe('localhost');
    expect(canonicalHost('Hooks.Example.')).toBe('hooks.example');
    expect(canonicalHost('0x7f.1')).toBe('127.0.0.1');
    expect(canonicalHost(' 127.0.0.1 ')).toBe('127.0.0.1');
  });

  it('refuses what is not a bare host', () => {
    for (const bad of [
      '',
      ' ',
      'a b',
      'a:80',
      'x:',
      'a/b',
      'x?y',
      'x#y',
      'u@a',
      'a..b',
      '1.2.3.4..',
    ])
      expect([bad, canonicalHost(bad)]).toEqual([bad, null]);
  });
});
