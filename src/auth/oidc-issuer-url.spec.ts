import type { LookupAddress } from 'node:dns';
import fc from 'fast-check';
import { isInternalAddress } from './internal-address';
import {
  checkIssuerUrl,
  internalAddressGuard,
  parseIssuerUrl,
  type IssuerUrlPolicy,
  type LookupAll,
} from './oidc-issuer-url';

const strict: IssuerUrlPolicy = { oidcAllowInsecureLoopback: false, oidcAllowedIssuerHosts: [] };
const problemOf = (url: string, policy = strict) => {
  const result = checkIssuerUrl(url, policy);
  return 'problem' in result ? result.problem : null;
};
const urlOf = (url: string) => {
  const result = parseIssuerUrl(url);
  return 'url' in result ? result.url : result.problem;
};

describe('parseIssuerUrl', () => {
  it.each([
    ['https://issuer.example/', 'https://issuer.example'],
    ['https://ISSUER.Example.:443/a/../b/', 'https://issuer.example/b'],
    ['https://issuer.example/a/./b//', 'https://issuer.example/a/b'],
    ['https://issuer.example/a/%2e%2e/b', 'https://issuer.example/b'],
    ['https://issuer.example:8443/x', 'https://issuer.example:8443/x'],
    ['https://issuer.example/?#', 'https://issuer.example'],
    ['https://2130706433/', 'https://127.0.0.1'],
    ['https://0x7f.1/', 'https://127.0.0.1'],
    ['https://017700000001/', 'https://127.0.0.1'],
    ['https://127.0.0.1./', 'https://127.0.0.1'],
    ['https://[::ffff:127.0.0.1]/', 'https://[::ffff:7f00:1]'],
    ['https://localhost./', 'https://localhost'],
  ])('writes %s as %s', (raw, normalised) => {
    expect(urlOf(raw)).toBe(normalised);
  });

  it.each([
    ['not a url', /absolute/],
    ['ftp://issuer.example', /https/],
    ['https://u:p@issuer.example', /credentials/],
    ['https://issuer.example/?a=1', /query/],
    ['https://issuer.example/#x', /fragment/],
    ['https://1.2.3.4../', /host/],
    ['https://a..b/', /host/],
    ['https://.a/', /host/],
  ])('refuses %s', (raw, problem) => {
    expect(urlOf(raw)).toMatch(problem);
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.webUrl({ validSchemes: ['https'], withFragments: false }), (raw) => {
        const once = parseIssuerUrl(raw);
        if ('url' in once) expect(parseIssuerUrl(once.url)).toEqual(once);
      }),
    );
  });
});

describe('checkIssuerUrl', () => {
  it('accepts https and refuses http unless loopback is allowed', () => {
    const loopback = { oidcAllowInsecureLoopback: true, oidcAllowedIssuerHosts: ['127.0.0.1'] };
    expect(problemOf('https://token.actions.example.com')).toBeNull();
    expect(problemOf('http://issuer.example.com', loopback)).toMatch(/https/);
    expect(problemOf('http://127.0.0.1:8000')).toMatch(/https/);
    expect(problemOf('http://127.0.0.1:8000', loopback)).toBeNull();
    expect(
      problemOf('http://10.0.0.1', { ...loopback, oidcAllowedIssuerHosts: ['10.0.0.1'] }),
    ).toMatch(/https/);
  });

  it.each([
    'https://127.0.0.1',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://0177.0.0.1/',
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[0:0:0:0:0:ffff:7f00:1]/',
    'https://localhost/',
    'https://LOCALHOST./',
    'https://ci.localhost/',
    'https://10.0.0.1/',
    'https://172.16.0.1/',
    'https://192.168.0.1/',
    'https://169.254.169.254/latest',
    'https://[fd00::1]/',
    'https://[fe80::1]/',
    'https://0/',
    'https://[::]/',
  ])('refuses the internal %s', (url) => {
    expect(problemOf(url)).toMatch(/internal address/);
  });

  it('refuses every numeric spelling of an internal IPv4 address', () => {
    const internalIp = fc
      .oneof(
        fc.integer({ min: 0x7f000000, max: 0x7fffffff }),
        fc.integer({ min: 0x0a000000, max: 0x0affffff }),
        fc.integer({ min: 0xa9fe0000, max: 0xa9feffff }),
        fc.integer({ min: 0xc0a80000, max: 0xc0a8ffff }),
      )
      .filter((n) =>
        isInternalAddress([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')),
      );
    const spell = (n: number, radix: 8 | 10 | 16) =>
      radix === 16 ? `0x${n.toString(16)}` : radix === 8 ? `0${n.toString(8)}` : String(n);
    fc.assert(
      fc.property(
        internalIp,
        fc.constantFrom(1, 2, 3, 4),
        fc.constantFrom<8 | 10 | 16>(8, 10, 16),
        fc.boolean(),
        (n, parts, radix, trailingDot) => {
          const octets = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
          const head = octets.slice(0, parts - 1);
          const rest = octets.slice(parts - 1).reduce((acc, o) => acc * 256 + o, 0);
          const host = [...head.map((o) => spell(o, radix)), spell(rest, radix)].join('.');
          expect(problemOf(`https://${host}${trailingDot ? '.' : ''}/`)).toMatch(/internal/);
        },
      ),
    );
  });

  it('lets an internal host through when the operator allows it, in its canonical form', () => {
    const policy = {
      oidcAllowInsecureLoopback: false,
      oidcAllowedIssuerHosts: ['127.0.0.1', '[::1]', 'issuer.localhost'],
    };
    expect(checkIssuerUrl('https://2130706433:8443/', policy)).toEqual({
      url: 'https://127.0.0.1:8443',
      hostname: '127.0.0.1',
    });
    expect(problemOf('https://[0::1]/', policy)).toBeNull();
    expect(problemOf('https://Issuer.Localhost./', policy)).toBeNull();
    expect(problemOf('https://127.0.0.2/', policy)).toMatch(/internal/);
    expect(problemOf('https://10.0.0.1/', policy)).toMatch(/internal/);
  });
});

describe('internalAddressGuard', () => {
  const resolvingTo =
    (...addresses: string[]): LookupAll =>
    (_host, _options, callback) =>
      callback(
        null,
        addresses.map((address): LookupAddress => ({
          address,
          family: address.includes(':') ? 6 : 4,
        })),
      );
  const resolve = (policy: IssuerUrlPolicy, lookup: LookupAll, host: string, all = false) =>
    new Promise<unknown>((done) =>
      internalAddressGuard(policy, lookup)(host, { all }, (error, address) =>
        done(error ? error.message : address),
      ),
    );

  it('refuses a name when any address it resolves to is internal', async () => {
    expect(await resolve(strict, resolvingTo('10.0.0.5'), 'issuer.example')).toMatch(
      /issuer.example resolves to internal address 10.0.0.5/,
    );
    expect(
      await resolve(strict, resolvingTo('93.184.215.14', '::ffff:127.0.0.1'), 'issuer.example'),
    ).toMatch(/internal address ::ffff:127.0.0.1/);
  });

  it('passes public addresses on, one or all as asked', async () => {
    const lookup = resolvingTo('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c');
    expect(await resolve(strict, lookup, 'issuer.example')).toBe('93.184.215.14');
    expect(await resolve(strict, lookup, 'issuer.example', true)).toHaveLength(2);
  });

  it('allows an internal address when the name or the address is listed', async () => {
    const byName = { ...strict, oidcAllowedIssuerHosts: ['issuer.corp'] };
    const byAddress = { ...strict, oidcAllowedIssuerHosts: ['10.0.0.5'] };
    expect(await resolve(byName, resolvingTo('10.0.0.5'), 'ISSUER.corp.')).toBe('10.0.0.5');
    expect(await resolve(byAddress, resolvingTo('10.0.0.5'), 'issuer.corp')).toBe('10.0.0.5');
    expect(await resolve(byAddress, resolvingTo('10.0.0.6'), 'issuer.corp')).toMatch(/internal/);
  });
});
