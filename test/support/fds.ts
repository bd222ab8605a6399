import { readdirSync, readlinkSync } from 'node:fs';

/** What an fd of this process refers to, as /proc shows it: a path, or `socket:[inode]`. */
export function fdTarget(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/** How many fds of this process refer to `target` (see fdTarget). */
export function fdsReferringTo(target: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fdTarget(Number(fd)) === target;
    } catch {
      return false; // closed while we looked (readdir's own fd)
    }
  }).length;
}
