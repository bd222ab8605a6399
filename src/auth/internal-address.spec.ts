import { isInternalAddress, isInternalHost, isLoopbackHost } from './internal-address';

describe('isInternalAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    '::ffff:7f00:1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::7f00:1',
    '64:ff9b::7f00:1',
    '64:ff9b:1::8.8.8.8',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    'not an address',
  ])('counts %s as internal', (ip) => {
    expect(isInternalAddress(ip)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '172.32.0.1',
    '172.15.255.255',
    '192.169.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('counts %s as public', (ip) => {
    expect(isInternalAddress(ip)).toBe(false);
  });
});

describe('isInternalHost', () => {
  it('takes URL hostnames: bracketed IPv6, dotted IPv4, localhost names', () => {
    expect(isInternalHost('[::1]')).toBe(true);
    expect(isInternalHost('[::ffff:7f00:1]')).toBe(true);
    expect(isInternalHost('127.0.0.1')).toBe(true);
    expect(isInternalHost('localhost')).toBe(true);
    expect(isInternalHost('ci.localhost')).toBe(true);
    expect(isInternalHost('[2606:4700::1111]')).toBe(false);
    expect(isInternalHost('issuer.example')).toBe(false);
    expect(isInternalHost('localhost.example')).toBe(false);
  });

  it('knows loopback apart from other internal hosts', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '[::1]', '[::ffff:7f00:1]', 'localhost'])
      expect([host, isLoopbackHost(host)]).toEqual([host, true]);
    for (const host of ['10.0.0.1', '[fe80::1]', '[::]', 'issuer.example'])
      expect([host, isLoopbackHost(host)]).toEqual([host, false]);
  });
});
