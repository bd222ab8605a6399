/**
 * Architecture names the Incus client accepts (its canonical names and aliases, lxc/incus v6.0.4
 * shared/osarch/architectures.go, `architectureNames` and `architectureAliases`). A product with
 * any other `arch` is silently dropped by the client, so imgsrv leaves it out of the documents
 * and reports it.
 *
 * One row per architecture: the kernel name first, then the names the client also accepts.
 * `stored` is the spelling imgsrv stores (kernel names normalized on the way in); `streams` is the
 * spelling the Simple Streams documents use for `arch` (and so in the `<alias>/<arch>` names the
 * client derives): the Debian names images.linuxcontainers.org uses where they exist. Either one
 * defaults to the name given.
 */
interface IncusArchitecture {
  readonly names: readonly [string, ...string[]];
  readonly stored?: string;
  readonly streams?: string;
}

const ARCHITECTURES: readonly IncusArchitecture[] = [
  { names: ['i686', 'i386', 'i586', '386', 'x86', 'generic_32'], stored: 'i386', streams: 'i386' },
  { names: ['x86_64', 'amd64', 'generic_64'], stored: 'amd64', streams: 'amd64' },
  { names: ['armv6l', 'armel', 'arm'], streams: 'armel' },
  {
    names: ['armv7l', 'armhf', 'armhfp', 'armv7a_hardfp', 'armv7', 'armv7a_vfpv3_hardfp'],
    stored: 'armhf',
    streams: 'armhf',
  },
  { names: ['armv8l'] },
  { names: ['aarch64', 'arm64', 'arm64_generic'], stored: 'arm64', streams: 'arm64' },
  { names: ['ppc', 'powerpc'] },
  { names: ['ppc64', 'powerpc64'] },
  { names: ['ppc64le', 'ppc64el'], stored: 'ppc64el', streams: 'ppc64el' },
  { names: ['s390x'] },
  { names: ['mips', 'mipsel', 'mipsle'] },
  { names: ['mips64', 'mips64el', 'mips64le'] },
  { names: ['riscv32'] },
  { names: ['riscv64'] },
  { names: ['loongarch64', 'loong64'], stored: 'loong64' },
];

const BY_NAME = new Map(ARCHITECTURES.flatMap((a) => a.names.map((name) => [name, a] as const)));

export function incusArchitectureKnown(architecture: string): boolean {
  return BY_NAME.has(architecture);
}

/** The client's own name for an architecture (`amd64` → `x86_64`), or undefined when unknown. */
export function incusArchitectureName(architecture: string): string | undefined {
  return BY_NAME.get(architecture)?.names[0];
}

/** One spelling per architecture for the documents (`x86_64` and `amd64` → `amd64`). */
export function streamsArchitecture(architecture: string): string {
  const known = BY_NAME.get(architecture);
  return known === undefined ? architecture : (known.streams ?? known.names[0]);
}

/**
 * The spelling imgsrv stores: the kernel name of an architecture whose Incus spelling differs
 * (`x86_64` → `amd64`) is normalized; every other name is kept as given.
 */
export function normalizeArchitecture(architecture: string): string {
  const known = BY_NAME.get(architecture);
  return known?.stored !== undefined && architecture === known.names[0]
    ? known.stored
    : architecture;
}

/**
 * Whether two architecture spellings name the same Incus architecture: `amd64` ≡ `x86_64`,
 * `arm64` ≡ `aarch64`, `armhf` ≡ `armv7l`, … Names Incus does not know match only themselves.
 */
export function architectureMatches(artifactArch: string, metadataArch: string): boolean {
  return (
    (incusArchitectureName(artifactArch) ?? artifactArch) ===
    (incusArchitectureName(metadataArch) ?? metadataArch)
  );
}
