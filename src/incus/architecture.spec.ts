import { incusArchitectureName, normalizeArchitecture, streamsArchitecture } from './architecture';

describe('normalizeArchitecture', () => {
  it.each([
    ['x86_64', 'amd64'],
    ['aarch64', 'arm64'],
    ['i686', 'i386'],
    ['armv7l', 'armhf'],
    ['ppc64le', 'ppc64el'],
    ['loongarch64', 'loong64'],
  ])('stores the kernel name %s as %s', (kernel, stored) => {
    expect(normalizeArchitecture(kernel)).toBe(stored);
  });

  it.each(['amd64', 'armv6l', 'armel', 'generic_64', 's390x', 'riscv64', 'sparc64', ''])(
    'keeps %p as given',
    (name) => {
      expect(normalizeArchitecture(name)).toBe(name);
    },
  );
});

describe('streamsArchitecture', () => {
  it.each([
    ['x86_64', 'amd64'],
    ['generic_64', 'amd64'],
    ['armv6l', 'armel'],
    ['arm', 'armel'],
    ['loong64', 'loongarch64'],
    ['powerpc', 'ppc'],
    ['sparc64', 'sparc64'],
  ])('writes %s as %s', (name, written) => {
    expect(streamsArchitecture(name)).toBe(written);
  });

  it('leaves names the client does not know without a client name', () => {
    expect(incusArchitectureName('sparc64')).toBeUndefined();
  });
});
