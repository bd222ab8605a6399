/**
 * Architecture names the Incus client accepts in a product's `arch` (its canonical names and
 * aliases, lxc/incus v6.0.4 shared/osarch/architectures.go). A product with any other `arch` is
 * silently dropped by the client, so imgsrv leaves it out of the documents and reports it.
 * Each family: the canonical name first, then the names the client also accepts.
 */
const FAMILIES: readonly (readonly string[])[] = [
  ['i686', 'i386', 'i586', '386', 'x86', 'generic_32'],
  ['x86_64', 'amd64', 'generic_64'],
  ['armv6l', 'armel', 'arm'],
  ['armv7l', 'armhf', 'armhfp', 'armv7a_hardfp', 'armv7', 'armv7a_vfpv3_hardfp'],
  ['armv8l'],
  ['aarch64', 'arm64', 'arm64_generic'],
  ['ppc', 'powerpc'],
  ['ppc64', 'powerpc64'],
  ['ppc64le', 'ppc64el'],
  ['s390x'],
  ['mips', 'mipsel', 'mipsle'],
  ['mips64', 'mips64el', 'mips64le'],
  ['riscv32'],
  ['riscv64'],
  ['loongarch64', 'loong64'],
];

/**
 * The spelling the documents use for an architecture's `arch` (and so in the `<alias>/<arch>`
 * names the client derives): the Debian names images.linuxcontainers.org uses where they exist.
 */
const PREFERRED: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  i686: 'i386',
  armv7l: 'armhf',
  armv6l: 'armel',
  ppc64le: 'ppc64el',
};

const CANONICAL = new Map(FAMILIES.flatMap((f) => f.map((name) => [name, f[0]] as const)));

export function incusArchitectureKnown(architecture: string): boolean {
  return CANONICAL.has(architecture);
}

/** The client's own name for an architecture (`amd64` → `x86_64`), or undefined when unknown. */
export function incusArchitectureName(architecture: string): string | undefined {
  return CANONICAL.get(architecture);
}

/** One spelling per architecture for the documents (`x86_64` and `amd64` → `amd64`). */
export function streamsArchitecture(architecture: string): string {
  const canonical = CANONICAL.get(architecture);
  return canonical === undefined ? architecture : (PREFERRED[canonical] ?? canonical);
}
