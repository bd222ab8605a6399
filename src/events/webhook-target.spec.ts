import { canonicalHost } from '../common/net/canonical-host';
import { isAllowedHost, refusedAddress, targetProblem } from './webhook-target';

describe('webhook targets', () => {
  it.each([
    'http://127.0.0.1:8080/hook',
    'http://127.1/hook',
    'http://2130706433/hook',
    'http://0x7f.0.0.1/hook',
    'http://0177.0.0.1/hook',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[0:0:0:0:0:0:0:1]/hook',
    'http://localhost/hook',
    'http://LOCALHOST./hook',
    'http://hooks.localhost/hook',
    'https://10.0.0.1/hook',
    'https://192.168.1.10/hook',
    'https://172.16.0.1/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://[fe80::1]/hook',
    'https://[fd00::1]/hook',
    'http://0.0.0.0/hook',
    'http://[::]/hook',
  ])('refuses the internal %s', (url) => {
    expect(targetProblem(url, [])).toMatchObject({ kind: 'internal' });
  });

  it('accepts public hosts and names (names are checked when resolved)', () => {
    for (const url of [
      'https://hooks.example.org/imgsrv?x=1',
      'http://93.184.216.34:8080/',
      'https://[2606:4700::1111]/',
    ])
      expect([url, targetProblem(url, [])]).toEqual([url, null]);
  });

  it('accepts an internal host listed as allowed, in any spelling of the same address', () => {
    const allowed = [canonicalHost('127.0.0.1')!, canonicalHost('::1')!];
    expect(targetProblem('http://127.0.0.1:9000/h', allowed)).toBeNull();
    expect(targetProblem('http://2130706433:9000/h', allowed)).toBeNull();
    expect(targetProblem('http://[::1]:9000/h', allowed)).toBeNull();
    expect(targetProblem('http://10.0.0.1/h', allowed)).toMatchObject({ kind: 'internal' });
    expect(targetProblem('http://localhost/h', allowed)).toMatchObject({ kind: 'internal' });
  });

  it('refuses what is not an http(s) URL without credentials or fragment', () => {
    for (const url of [
      'ftp://hooks.example.org/',
      'hooks.example.org/x',
      'http://user:pw@hooks.example.org/',
      'https://hooks.example.org/#frag',
      `https://hooks.example.org/${'x'.repeat(2048)}`,
    ])
      expect([url, targetProblem(url, [])]).toEqual([
        url,
        expect.objectContaining({ kind: 'malformed' }),
      ]);
  });

  it('refuses a resolved name when any of its addresses is internal, unless the name is allowed', () => {
    expect(refusedAddress('hooks.example', ['93.184.216.34'], [])).toBeNull();
    expect(refusedAddress('hooks.example', ['93.184.216.34', '10.1.2.3'], [])).toBe('10.1.2.3');
    expect(refusedAddress('hooks.example', ['::ffff:127.0.0.1'], [])).toBe('::ffff:127.0.0.1');
    expect(refusedAddress('hooks.example.', ['10.1.2.3'], ['hooks.example'])).toBeNull();
    expect(isAllowedHost('Hooks.Example', ['hooks.example'])).toBe(false);
  });
});
