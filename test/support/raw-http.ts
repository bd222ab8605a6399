import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** One HTTP/1.1 request head, exactly as written (Host: imgsrv.test, then `headers`). */
export function rawRequest(
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${path} HTTP/1.1\r\nHost: imgsrv.test\r\n${lines.join('')}\r\n`;
}

/** `promise`, or a rejection naming `what` after `ms`: a stall fails at once, not at the test timeout. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export interface RawResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The head as the server wrote it. */
  readonly head: string;
}

/**
 * One HTTP/1.1 connection driven byte by byte: requests are written exactly as given (pipelined,
 * split, malformed), answers read back in order. Bodies are read by Content-Length; chunked
 * answers are not expected here.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  /** Received after `buffer`, joined to it only when an answer needs more bytes. */
  private chunks: Buffer[] = [];
  private waiter?: () => void;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      }),
    );
    socket.on('error', () => undefined);
  }

  static open(url: string): Promise<RawConnection> {
    const { protocol, hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const options = { host: hostname, port: Number(port) };
      const socket =
        protocol === 'https:'
          ? connectTls({ ...options, rejectUnauthorized: false }, () =>
              resolve(new RawConnection(socket)),
            )
          : connectTcp(options, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** This end's port: with the server's, it names the connection in /proc/net/tcp. */
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Reads the answers to `methods`, one per request, in order (HEAD answers have no body). */
  async read(methods: readonly string[]): Promise<RawResponse[]> {
    const answers: RawResponse[] = [];
    for (const method of methods) answers.push(await this.readOne(method));
    return answers;
  }

  /** Bytes received and not yet read as an answer. */
  get pending(): number {
    return this.buffer.length + this.chunks.reduce((n, c) => n + c.length, 0);
  }

  /** Stops reading from the socket (the server's answers back up), until resume(). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async readOne(method: string): Promise<RawResponse> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buffer.toString('latin1', 0, end);
        const [statusLine, ...lines] = head.split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]);
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        if (headers['transfer-encoding']) throw new Error(`unexpected chunked answer: ${head}`);
        const length =
          method === 'HEAD' || status === 304 || status === 204
            ? 0
            : Number(headers['content-length'] ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length);
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status, headers, body, head };
        }
      }
      if (this.chunks.length) {
        this.buffer = Buffer.concat([this.buffer, ...this.chunks]);
        this.chunks = [];
        continue;
      }
      if (this.ended) throw new Error(`connection closed with ${this.buffer.length} bytes unread`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = undefined;
    }
  }
}
