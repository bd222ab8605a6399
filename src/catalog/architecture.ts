/**
 * Architectures are stored as Incus spells them in Simple Streams. Kernel names that Incus maps
 * to another spelling are normalized on the way in.
 */
const ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  i686: 'i386',
  armv7l: 'armhf',
  ppc64le: 'ppc64el',
  loongarch64: 'loong64',
};

export function normalizeArchitecture(architecture: string): string {
  return ALIASES[architecture] ?? architecture;
}
