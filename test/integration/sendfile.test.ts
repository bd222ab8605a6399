import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  flushed,
  plainSocketFd,
  sendFile,
  sendfileUnavailable,
} from '../../src/common/http/sendfile';
import { MIB, randomData } from '../support/cas-streams';
import { fdTarget, fdsReferringTo } from '../support/fds';
import { sleep } from '../support/waiting';
import { sha256Hex } from '../support/digests';

const SIZE = 64 * MIB; // well past the loopback socket buffers on both ends

/** A server socket and the client socket connected to it. */
interface Connection {
  readonly server: Socket;
  readonly client: Socket;
  close(): void;
}

/** Every connection opened, so that a test that fails half-way cannot keep the listener open. */
const opened = new Set<Socket>();

async function connection(listener: Server): Promise<Connection> {
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => undefined);
  const server = await accepted;
  opened.add(client).add(server);
  // The server side never reads: the tests control what happens on the socket.
  server.pause();
  server.on('error', () => undefined);
  await new Promise<void>((resolve) =>
    client.connecting ? client.once('connect', resolve) : resolve(),
  );
  return {
    server,
    client,
    close() {
      client.destroy();
      server.destroy();
      opened.delete(client);
      opened.delete(server);
    },
  };
}

/** Everything the client receives until the server ends the connection, as a sha256. */
function received(client: Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  client.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return new Promise((resolve, reject) => {
    client.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    client.once('error', reject);
  });
}

/** Counts this process's fds that refer to what `fd` refers to now (a socket, a file). */
function fdsLike(fd: number): () => number {
  const target = fdTarget(fd);
  return () => fdsReferringTo(target);
}

/** Bytes queued in the kernel for the peer of the server socket on `port` (tx_queue). */
async function sendQueue(localPort: number, remotePort: number): Promise<number> {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const table = await readFile('/proc/net/tcp', 'utf8');
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(localPort)}`) && f[2]?.endsWith(`:${hex(remotePort)}`)) {
      return parseInt(f[4].split(':')[0], 16);
    }
  }
  throw new Error('connection not found in /proc/net/tcp');
}

/**
 * Waits until the kernel's send queue of the connection is full and stays so: the sender can only
 * be waiting for the client now. Every turn of this loop is also a timer firing on the event
 * loop while the transfer is in progress.
 */
async function untilStalled(c: Connection): Promise<number> {
  let last = -1;
  for (let i = 0; i < 200; i++) {
    const queued = await sendQueue(c.server.localPort ?? 0, c.server.remotePort ?? 0);
    if (queued > 0 && queued === last) return i;
    last = queued;
    await sleep(50);
  }
  throw new Error('the transfer never filled the socket buffers');
}

const settled = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    () => 'rejected',
  );

describe('sendFile (native sendfile addon)', () => {
  let dir: string;
  let path: string;
  let data: Buffer;
  let listener: Server;
  let file: FileHandle;

  beforeAll(async () => {
    expect(sendfileUnavailable()).toBeNull();
    dir = await mkdtemp(join(tmpdir(), 'imgsrv-sendfile-'));
    path = join(dir, 'blob');
    data = randomData(SIZE);
    await writeFile(path, data);
    listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  beforeEach(async () => {
    file = await open(path, 'r');
  });
  afterEach(async () => {
    await file.close();
  });
  afterAll(async () => {
    opened.forEach((socket) => socket.destroy());
    await new Promise((resolve) => listener.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a whole file and a range byte for byte', async () => {
    for (const [offset, length] of [
      [0, SIZE],
      [5 * MIB + 3, 37 * MIB + 11],
    ]) {
      const c = await connection(listener);
      const got = received(c.client);
      expect(await sendFile(c.server, file, offset, length)).toBe(length);
      c.server.end();
      expect(await got).toEqual({
        bytes: length,
        sha256: sha256Hex(data.subarray(offset, offset + length)),
      });
      c.close();
    }
  });

  it('puts the file after what was written through Node before it, corked or queued', async () => {
    const c = await connection(listener);
    c.client.pause();
    // More than the socket buffers hold, so most of it waits in Node's and libuv's queues.
    const head = randomData(16 * MIB);
    c.server.cork();
    c.server.write(head.subarray(0, 1000));
    process.nextTick(() => c.server.uncork());
    c.server.write(head.subarray(1000));
    const ready = flushed(c.server);
    await untilStalled(c);
    expect(await Promise.race([settled(ready), sleep(0).then(() => 'pending')])).toBe('pending');
    const got = received(c.client);
    c.client.resume();
    await ready;
    expect(c.server.writableLength).toBe(0);
    await sendFile(c.server, file, 0, MIB);
    c.server.end();
    expect((await got).sha256).toBe(sha256Hex(Buffer.concat([head, data.subarray(0, MIB)])));
    c.close();
  });

  it('sends several files at once, each whole', async () => {
    const conns = [await connection(listener), await connection(listener)];
    const got = conns.map((c) => received(c.client));
    await Promise.all(conns.map((c, i) => sendFile(c.server, file, i * MIB, SIZE - i * MIB)));
    conns.forEach((c) => c.server.end());
    expect(await Promise.all(got)).toEqual([
      { bytes: SIZE, sha256: sha256Hex(data) },
      { bytes: SIZE - MIB, sha256: sha256Hex(data.subarray(MIB)) },
    ]);
    conns.forEach((c) => c.close());
  });

  it('waits for a client that stops reading without buffering and without blocking the event loop', async () => {
    const c = await connection(listener);
    c.client.pause();
    global.gc?.();
    const before = process.memoryUsage();
    const transfer = sendFile(c.server, file, 0, SIZE);
    const state = settled(transfer);

    const turns = await untilStalled(c);
    let immediates = 0;
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        immediates++;
        resolve();
      }),
    );
    const during = process.memoryUsage();
    expect(turns).toBeGreaterThan(0);
    expect(immediates).toBe(1);
    expect(await Promise.race([state, sleep(0).then(() => 'pending')])).toBe('pending');
    expect(during.rss - before.rss).toBeLessThan(SIZE / 4);
    expect(during.heapUsed + during.external - before.heapUsed - before.external).toBeLessThan(
      SIZE / 4,
    );

    const got = received(c.client);
    c.client.resume();
    expect(await transfer).toBe(SIZE);
    c.server.end();
    expect((await got).sha256).toBe(sha256Hex(data));
    c.close();
  });

  it('rejects when the client goes away mid-transfer, and closes its own fds', async () => {
    const c = await connection(listener);
    const socketFds = fdsLike(plainSocketFd(c.server) ?? -1);
    const fileFds = fdsLike(file.fd);
    let got = 0;
    const gone = new Promise<void>((resolve) =>
      c.client.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= MIB) {
          c.client.resetAndDestroy();
          resolve();
        }
      }),
    );
    const transfer = sendFile(c.server, file, 0, SIZE);
    expect([socketFds(), fileFds()]).toEqual([2, 2]); // Node's and the addon's dup
    await gone;
    const error = await transfer.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      name: 'SendfileError',
      code: expect.stringMatching(/^(EPIPE|ECONNRESET)$/),
    });
    expect((error as Error).message).toMatch(/sendfile failed with E\w+ after \d+ bytes/);
    // Node closes its own fd of a reset socket; the addon's dup is gone by the time it rejects.
    c.close();
    if (!c.server.closed) await new Promise((resolve) => c.server.once('close', resolve));
    expect([socketFds(), fileFds()]).toEqual([0, 1]);
  });

  it('stops when the signal aborts, with the signal’s reason', async () => {
    const c = await connection(listener);
    c.client.pause();
    const socketFds = fdsLike(plainSocketFd(c.server) ?? -1);
    const aborted = new AbortController();
    const transfer = sendFile(c.server, file, 0, SIZE, { signal: aborted.signal });
    await untilStalled(c);
    aborted.abort();
    await expect(transfer).rejects.toMatchObject({ name: 'AbortError' });
    expect(socketFds()).toBe(1);
    await expect(
      sendFile(c.server, file, 0, SIZE, { signal: aborted.signal }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
    c.close();
  });

  it('ends with ETIMEDOUT once the client has taken no byte for the idle time, and not before', async () => {
    const c = await connection(listener);
    c.client.pause();
    const socketFds = fdsLike(plainSocketFd(c.server) ?? -1);
    const started = performance.now();
    const error = await sendFile(c.server, file, 0, SIZE, { idleMs: 400 }).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(error).toMatchObject({ name: 'SendfileError', code: 'ETIMEDOUT' });
    expect((error as { bytesSent: number }).bytesSent).toBeGreaterThan(0);
    expect((error as { bytesSent: number }).bytesSent).toBeLessThan(SIZE);
    expect((error as Error).message).toMatch(/took no bytes for too long/);
    // The limit counts from the last byte the socket took, so it cannot end sooner than that.
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(socketFds()).toBe(1);
    c.close();
  });

  it('lets a slow client that keeps reading finish under the same idle limit', async () => {
    const c = await connection(listener);
    // Reads in small sips with pauses, so the transfer waits for room over and over, for far
    // longer in all than the idle limit, but never for the whole limit at once. The kernel wakes
    // the sender only once a good part of its socket buffer has drained (about 1.4 MiB a step on
    // loopback, one step every 350 ms at this pace on an idle machine); the limit leaves room for
    // a busy machine's timers on top. Node reads at most 64 KiB at a time, so 24 MiB take at
    // least 384 sips of 15 ms.
    const size = 24 * MIB;
    const idleMs = 2000;
    const hash = createHash('sha256');
    let bytes = 0;
    c.client.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      c.client.pause();
      setTimeout(() => c.client.resume(), 15);
    });
    const started = performance.now();
    expect(await sendFile(c.server, file, 0, size, { idleMs })).toBe(size);
    c.server.end();
    await new Promise((resolve) => c.client.once('end', resolve));
    expect(bytes).toBe(size);
    expect(hash.digest('hex')).toBe(sha256Hex(data.subarray(0, size)));
    expect(performance.now() - started).toBeGreaterThan(idleMs);
    c.close();
  });

  it('fails, rather than waits, when the file is shorter than the length promised', async () => {
    const c = await connection(listener);
    const got = received(c.client);
    await expect(sendFile(c.server, file, SIZE - MIB, 2 * MIB)).rejects.toMatchObject({
      code: 'ERR_SHORT_FILE',
      bytesSent: MIB,
    });
    c.server.end();
    expect((await got).bytes).toBe(MIB);
    c.close();
  });

  it('refuses a socket without a kernel fd of its own', async () => {
    const c = await connection(listener);
    c.server.destroy();
    await new Promise((resolve) => c.server.once('close', resolve));
    expect(plainSocketFd(c.server)).toBeNull();
    await expect(sendFile(c.server, file, 0, 1)).rejects.toThrow(/plain TCP socket/);
    c.close();
  });
});
