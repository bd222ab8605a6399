import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';

/** The addon of native/sendfile (see the comment at the top of sendfile.c). */
interface SendfileAddon {
  start(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    done: (code: string | null, bytesSent: number) => void,
  ): object;
  cancel(handle: object): void;
  /** Bytes handed to the socket so far. */
  sent(handle: object): number;
}

/** Built by `npm run build:native`; the same path from dist/common/http and src/common/http. */
const ADDON_PATH = join(__dirname, '../../../native/sendfile/build/Release/sendfile.node');

let loaded: { addon: SendfileAddon } | { reason: string } | undefined;

function load(): { addon: SendfileAddon } | { reason: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { reason: `sendfile(2) is used on Linux only, not on ${process.platform}` };
  } else {
    try {
      loaded = { addon: require(ADDON_PATH) as SendfileAddon };
    } catch (error) {
      loaded = { reason: `the sendfile addon did not load: ${(error as Error).message}` };
    }
  }
  return loaded;
}

/** Why this process cannot use sendfile(2), or null when it can. */
export function sendfileUnavailable(): string | null {
  const result = load();
  return 'reason' in result ? result.reason : null;
}

/** The kernel fd of a plain TCP socket; null for TLS (bytes must be encrypted in user space). */
export function plainSocketFd(socket: Socket): number | null {
  if ((socket as Socket & { encrypted?: boolean }).encrypted) return null;
  const fd = (socket as Socket & { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

const NOTHING = Buffer.alloc(0);

/**
 * Resolves once every byte written to `socket` through Node (a corked write included) is in the
 * kernel's socket buffer: an empty write completes only after the writes queued before it.
 */
export function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!socket.writable) {
      reject(new Error('the socket is no longer writable'));
      return;
    }
    socket.write(NOTHING, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * A failed transfer; `code` is the errno name (EPIPE, ECONNRESET, ...), ERR_SHORT_FILE, or
 * ETIMEDOUT when the socket took no bytes for the idle time given to sendFile.
 */
export class SendfileError extends Error {
  constructor(
    readonly code: string,
    readonly bytesSent: number,
  ) {
    super(
      code === 'ERR_SHORT_FILE'
        ? `sendfile: the file ended after ${bytesSent} of the bytes promised`
        : code === 'ETIMEDOUT'
          ? `sendfile: the socket took no bytes for too long, after ${bytesSent} bytes`
          : `sendfile failed with ${code} after ${bytesSent} bytes`,
    );
    this.name = 'SendfileError';
  }
}

/**
 * Sends `length` bytes of `file` from `offset` to `socket` with sendfile(2), on the addon's own
 * thread: resolves with the bytes sent once all of them are in the socket buffer. The caller must
 * have nothing left in Node's write queue of the socket (those bytes would come after these),
 * must not write to it until this settles, and keeps `file` open until then. Node sees none of
 * these writes, so its socket timeout cannot tell a stalled client from a busy transfer: with
 * `idleMs`, a transfer whose socket takes no byte for that long ends with ETIMEDOUT. Rejects with
 * a SendfileError, or with the signal's reason once it aborts.
 */
export function sendFile(
  socket: Socket,
  file: FileHandle,
  offset: number,
  length: number,
  options: { signal?: AbortSignal; idleMs?: number } = {},
): Promise<number> {
  const { signal, idleMs } = options;
  const result = load();
  if ('reason' in result) return Promise.reject(new Error(result.reason));
  const fd = plainSocketFd(socket);
  if (fd === null) return Promise.reject(new Error('sendfile needs a plain TCP socket'));
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (length === 0) return Promise.resolve(0);
  const { addon } = result;
  return new Promise((resolve, reject) => {
    let idle: NodeJS.Timeout | undefined;
    let timedOut = false;
    const onAbort = () => addon.cancel(handle);
    const handle = addon.start(fd, file.fd, offset, length, (code, bytesSent) => {
      signal?.removeEventListener('abort', onAbort);
      clearInterval(idle);
      if (code === null) resolve(bytesSent);
      else if (code === 'ECANCELED' && signal?.aborted) reject(signal.reason);
      else if (code === 'ECANCELED' && timedOut) reject(new SendfileError('ETIMEDOUT', bytesSent));
      else reject(new SendfileError(code, bytesSent));
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (idleMs !== undefined) {
      // Looked at four times per idle period: a stall ends between 1 and 1.25 idle periods in.
      let seen = -1;
      let movedAt = performance.now();
      idle = setInterval(
        () => {
          const sent = addon.sent(handle);
          const now = performance.now();
          if (sent !== seen) {
            seen = sent;
            movedAt = now;
          } else if (now - movedAt >= idleMs) {
            timedOut = true;
            clearInterval(idle);
            addon.cancel(handle);
          }
        },
        Math.max(1, Math.floor(idleMs / 4)),
      );
      idle.unref();
    }
  });
}
