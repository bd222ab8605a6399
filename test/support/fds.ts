import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

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

/**
 * Which of `pids` holds the server end of the IPv4 TCP connection between `serverPort` and a
 * client's `clientPort` on this host (its socket inode in /proc/net/tcp, then the process whose
 * fds refer to it), or undefined.
 */
export function pidHoldingConnection(
  serverPort: number,
  clientPort: number,
  pids: readonly number[],
): number | undefined {
  const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const inode = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find(
      ([, local, remote]) =>
        local?.endsWith(`:${hexPort(serverPort)}`) && remote?.endsWith(`:${hexPort(clientPort)}`),
    )?.[9];
  if (!inode) return undefined;
  return pids.find((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

/** The pids of a process's children (/proc/PID/task/PID/children); none once it is gone. */
export function childPidsOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
