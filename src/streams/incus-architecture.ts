/**
 * Architecture names the Incus client accepts in a product's `arch` (its canonical names and
 * aliases, lxc/incus v6.0.4 shared/osarch/architectures.go). A product with any other `arch` is
 * silently dropped by the client, so imgsrv leaves it out of the documents and reports it.
 */
const KNOWN = new Set([
  'i686',
  'i386',
  'i586',
  '386',
  'x86',
  'generic_32',
  'x86_64',
  'amd64',
  'generic_64',
  'armv6l',
  'armel',
  'arm',
  'armv7l',
  'armhf',
  'armhfp',
  'armv7a_hardfp',
  'armv7',
  'armv7a_vfpv3_hardfp',
  'armv8l',
  'aarch64',
  'arm64',
  'arm64_generic',
  'ppc',
  'powerpc',
  'ppc64',
  'powerpc64',
  'ppc64le',
  'ppc64el',
  's390x',
  'mips',
  'mipsel',
  'mipsle',
  'mips64',
  'mips64el',
  'mips64le',
  'riscv32',
  'riscv64',
  'loongarch64',
  'loong64',
]);

export function incusArchitectureKnown(architecture: string): boolean {
  return KNOWN.has(architecture);
}
