import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { createSHA256 } from 'hash-wasm';
import {
  ctxFromSaved,
  loadSha256Addon,
  savedFromCtx,
  type Sha256Addon,
  type Sha256CtxLayout,
} from './sha256-native';

/**
 * A SHA-256 in progress. `update` answers a promise when the caller should wait (backpressure).
 * The hasher may read a chunk after `update` returns: a chunk given must not change afterwards
 * (streams never reuse a chunk they passed on).
 */
export interface RunningSha256 {
  update(chunk: Uint8Array): void | Promise<void>;
  /** The digest as 64 hex digits; the hasher is finished afterwards. */
  hex(): string | Promise<string>;
}

/**
 * The hashing thread, for a process where the native addon (native/sha256) cannot load:
 * hash-wasm's SHA-256 instances by id, fed in message order. Its WebAssembly hashes at about
 * sha256sum's speed, so it runs here, beside the thread that receives and stores the bytes.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createSHA256 } = require(workerData.hashWasm);
const hashers = new Map();
let queue = Promise.resolve();
parentPort.on('message', (m) => { queue = queue.then(() => handle(m)); });
async function handle(m) {
  try {
    if (m.op === 'create') {
      const h = await createSHA256();
      if (m.state) h.load(m.state); else h.init();
      hashers.set(m.id, h);
      return parentPort.postMessage({ seq: m.seq, value: null });
    }
    if (m.op === 'free') { hashers.delete(m.id); return; }
    const h = hashers.get(m.id);
    if (!h) throw new Error('no such hash');
    if (m.op === 'update') { h.update(m.chunk); return parentPort.postMessage({ seq: m.seq, value: null }); }
    if (m.op === 'save') return parentPort.postMessage({ seq: m.seq, value: h.save() });
    if (m.op === 'digest') { hashers.delete(m.id); return parentPort.postMessage({ seq: m.seq, value: h.digest('hex') }); }
    throw new Error('unknown operation ' + m.op);
  } catch (error) {
    parentPort.postMessage({ seq: m.seq, error: String((error && error.message) || error) });
  }
}
`;

/** The engine this process hashes with, and the tag saved states carry. */
interface Engine {
  /** The native addon and its SHA256_CTX layout, or null: hash-wasm on the hashing thread. */
  readonly native: { readonly addon: Sha256Addon; readonly layout: Sha256CtxLayout } | null;
  /** hash-wasm's tag of its SHA-256 state (the first four bytes of a saved state). */
  readonly tag: Uint8Array;
}

let engine: Promise<Engine> | undefined;

/** Decided once per process: the native SHA-256 unless its addon does not load. */
function hashEngine(): Promise<Engine> {
  engine ??= (async () => {
    const wasm = await createSHA256();
    wasm.init();
    const tag = wasm.save().slice(0, 4);
    const loaded = loadSha256Addon();
    const native =
      'addon' in loaded ? { addon: loaded.addon, layout: loaded.addon.layout() } : null;
    return { native, tag };
  })();
  return engine;
}

/** Which SHA-256 this process's resumable hashes run. */
export async function resumableSha256Engine(): Promise<'native' | 'wasm'> {
  return (await hashEngine()).native ? 'native' : 'wasm';
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One hashing thread per process, started on first use, holding the process open only while busy. */
class HashThread {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { hashWasm: require.resolve('hash-wasm') },
    });
    worker.unref();
    worker.on('message', (m: { seq: number; value?: unknown; error?: string }) => {
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (this.pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(new Error(`sha256: ${m.error}`));
      else p.resolve(m.value);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const worker = this.ensure();
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...message, seq }, transfer);
    });
  }

  free(id: number): void {
    this.worker?.postMessage({ op: 'free', id, seq: 0 });
  }
}

/** Where a ResumableSha256's state lives and its bytes are hashed. */
interface HashBackend {
  /** Hashes `chunk` after every chunk given before it; `done` hears when (and of a failure). */
  update(chunk: Uint8Array, done: (error?: Error) => void): void;
  /** The saved form of the state after every chunk given so far. */
  save(): Promise<Buffer>;
  hex(): Promise<string>;
  dispose(): void;
}

/** The most bytes one call to the pool hashes (the chunks queued meanwhile, in order). */
const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The native SHA-256 (OpenSSL's, with the CPU's SHA instructions where there are any): the state
 * is a SHA256_CTX in a Buffer on this thread, each update hashes the caller's chunk in place on a
 * thread of libuv's pool, one at a time per state, so no byte is copied or sent anywhere.
 */
class NativeBackend implements HashBackend {
  private readonly queue: { chunk: Uint8Array; done: (error?: Error) => void }[] = [];
  private running = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly native: NonNullable<Engine['native']>,
    private readonly tag: Uint8Array,
    private readonly ctx: Buffer,
  ) {}

  update(chunk: Uint8Array, done: (error?: Error) => void): void {
    this.queue.push({ chunk, done });
    if (!this.running) this.next();
  }

  private next(): void {
    if (this.queue.length === 0) {
      this.running = false;
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
      return;
    }
    // Everything queued goes in one call (up to BATCH_BYTES): a round trip to the pool costs
    // about as much as hashing 0.4 MiB here, so a backlog is hashed without one per chunk.
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && (count === 0 || bytes < BATCH_BYTES))
      bytes += this.queue[count++].chunk.byteLength;
    const jobs = this.queue.splice(0, count);
    this.running = true;
    this.native.addon
      .updateAsync(
        this.ctx,
        jobs.map((j) => j.chunk),
      )
      .then(
        () => {
          for (const job of jobs) job.done();
          this.next();
        },
        (error: Error) => {
          for (const job of jobs) job.done(error);
          this.next();
        },
      );
  }

  private settled(): Promise<void> {
    return this.running ? new Promise((resolve) => this.idle.push(resolve)) : Promise.resolve();
  }

  async save(): Promise<Buffer> {
    await this.settled();
    return savedFromCtx(this.ctx, this.native.layout, this.tag);
  }

  async hex(): Promise<string> {
    await this.settled();
    return this.native.addon.digest(this.ctx).toString('hex');
  }

  dispose(): void {
    for (const job of this.queue.splice(0)) job.done();
  }
}

/** hash-wasm's SHA-256 on the hashing thread (a process where the addon does not load). */
class ThreadBackend implements HashBackend {
  constructor(private readonly id: number) {
    finalizer.register(this, id, this);
  }

  static async create(state: Uint8Array | null): Promise<ThreadBackend> {
    const id = ++nextId;
    await thread.call({ op: 'create', id, state: state ? Uint8Array.from(state) : null });
    return new ThreadBackend(id);
  }

  update(chunk: Uint8Array, done: (error?: Error) => void): void {
    // A copy of our own to hand over: transferring detaches it, and the caller keeps its chunk.
    const copy = new Uint8Array(chunk.byteLength);
    copy.set(chunk);
    thread.call({ op: 'update', id: this.id, chunk: copy }, [copy.buffer]).then(() => done(), done);
  }

  async save(): Promise<Buffer> {
    return Buffer.from((await thread.call({ op: 'save', id: this.id })) as Uint8Array);
  }

  async hex(): Promise<string> {
    return (await thread.call({ op: 'digest', id: this.id })) as string;
  }

  dispose(): void {
    finalizer.unregister(this);
    thread.free(this.id);
  }
}

const thread = new HashThread();
let nextId = 0;
const finalizer = new FinalizationRegistry<number>((id) => thread.free(id));

/** Bytes given to `update` but not hashed yet, above which `update` asks to wait. */
const BACKLOG_HIGH = 16 * 1024 * 1024;

/**
 * A SHA-256 whose state can be saved and later resumed, in another process if need be: the
 * running hash of an upload lives in PostgreSQL between parts. Hashing happens off the event
 * loop (NativeBackend, or ThreadBackend where the addon cannot load); `update` answers a promise
 * when too much is waiting.
 */
export class ResumableSha256 implements RunningSha256 {
  private backlog = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];

  private constructor(private readonly backend: HashBackend) {}

  /**
   * A fresh hash, or one continuing from a saved state (rejects a state it cannot load).
   * `engine: 'wasm'` asks for the hashing thread's hash-wasm even where the addon loads: what a
   * process without the addon runs, for the tests that move states between the two.
   */
  static async create(
    state?: Uint8Array | null,
    options: { engine?: 'wasm' } = {},
  ): Promise<ResumableSha256> {
    const { native, tag } = await hashEngine();
    if (native && options.engine !== 'wasm') {
      const ctx = state ? ctxFromSaved(state, native.layout, tag) : native.addon.init();
      return new ResumableSha256(new NativeBackend(native, tag, ctx));
    }
    return new ResumableSha256(await ThreadBackend.create(state ?? null));
  }

  update(chunk: Uint8Array): void | Promise<void> {
    const bytes = chunk.byteLength;
    this.backlog += bytes;
    this.backend.update(chunk, (error) => {
      if (error) this.failure ??= error;
      this.consumed(bytes);
    });
    if (this.backlog <= BACKLOG_HIGH) return;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private consumed(bytes: number): void {
    this.backlog -= bytes;
    if (this.backlog <= BACKLOG_HIGH / 2 && this.waiters.length) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** The state after every byte given so far. */
  async save(): Promise<Buffer> {
    const saved = await this.backend.save();
    if (this.failure) throw this.failure;
    return saved;
  }

  async hex(): Promise<string> {
    const digest = await this.backend.hex();
    if (this.failure) throw this.failure;
    return digest;
  }

  /** Frees the state (on the hashing thread, also done when the object is collected). */
  dispose(): void {
    this.backend.dispose();
  }

  /** The digest a saved state stands for, leaving the state usable. */
  static async digestOfState(state: Uint8Array): Promise<string> {
    return (await ResumableSha256.create(state)).hex();
  }
}

/**
 * Node's (OpenSSL) SHA-256: several times faster than the WebAssembly one, but its state cannot
 * be saved. Used when nothing needs resuming (verifying from the first byte, Content-Digest).
 */
export class FastSha256 implements RunningSha256 {
  private readonly hash: Hash = createHash('sha256');

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }

  bytes(): Buffer {
    return this.hash.digest();
  }
}
