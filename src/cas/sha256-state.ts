import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { createSHA256 } from 'hash-wasm';
import {
  ctxFromSaved,
  loadSha256Addon,
  savedFromCtx,
  SHA256_ADDON_PATH,
  type Sha256CtxLayout,
} from './sha256-native';

/** A SHA-256 in progress. `update` answers a promise when the caller should wait (backpressure). */
export interface RunningSha256 {
  update(chunk: Uint8Array): void | Promise<void>;
  /** The digest as 64 hex digits; the hasher is finished afterwards. */
  hex(): string | Promise<string>;
}

/**
 * The hashing thread: SHA-256 instances by id, fed in message order, each either the native one
 * (native/sha256: OpenSSL's SHA256_CTX in a Buffer, hashed by the same code as node:crypto, with
 * the CPU's SHA instructions where there are any) or, where that addon cannot load, hash-wasm's,
 * whose WebAssembly hashes at about sha256sum's speed. Either runs here, beside the thread that
 * receives and stores the bytes, instead of on it. The main thread converts between the two
 * states (sha256-native.ts), so the thread only ever sees its own kind.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const native = workerData.native ? require(workerData.native) : null;
const { createSHA256 } = require(workerData.hashWasm);
const hashers = new Map();
let queue = Promise.resolve();
parentPort.on('message', (m) => { queue = queue.then(() => handle(m)); });
function nativeHasher(ctx) {
  return {
    update: (chunk) => native.update(ctx, chunk),
    save: () => Uint8Array.from(ctx),
    digest: () => native.digest(ctx).toString('hex'),
  };
}
async function handle(m) {
  try {
    if (m.op === 'create') {
      let h;
      if (native) h = nativeHasher(m.state ? Buffer.from(m.state) : native.init());
      else {
        h = await createSHA256();
        if (m.state) h.load(m.state); else h.init();
      }
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

/** The engine the hashing thread runs, and the tag saved states carry. */
interface Engine {
  /** The native addon's SHA256_CTX layout, or null for hash-wasm. */
  readonly native: Sha256CtxLayout | null;
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
    return { native: 'addon' in loaded ? loaded.addon.layout() : null, tag };
  })();
  return engine;
}

/** Which SHA-256 the hashing thread runs in this process. */
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

  private ensure(native: boolean): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        hashWasm: require.resolve('hash-wasm'),
        native: native ? SHA256_ADDON_PATH : null,
      },
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

  call(
    engine: Engine,
    message: Record<string, unknown>,
    transfer: ArrayBuffer[] = [],
  ): Promise<unknown> {
    const worker = this.ensure(engine.native !== null);
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

const thread = new HashThread();
let nextId = 0;
const finalizer = new FinalizationRegistry<number>((id) => thread.free(id));

/** Bytes handed to the hashing thread but not hashed yet, above which `update` asks to wait. */
const BACKLOG_HIGH = 16 * 1024 * 1024;

/**
 * A SHA-256 whose state can be saved and later resumed, in another process if need be: the
 * running hash of an upload lives in PostgreSQL between parts. Hashing happens on the hashing
 * thread; `update` copies the chunk there and answers a promise when too much is waiting.
 */
export class ResumableSha256 implements RunningSha256 {
  private backlog = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly id: number,
    private readonly engine: Engine,
  ) {
    finalizer.register(this, id);
  }

  /** A fresh hash, or one continuing from a saved state (rejects a state it cannot load). */
  static async create(state?: Uint8Array | null): Promise<ResumableSha256> {
    const engine = await hashEngine();
    const id = ++nextId;
    const loaded = !state
      ? null
      : engine.native
        ? ctxFromSaved(state, engine.native, engine.tag)
        : Uint8Array.from(state);
    await thread.call(engine, { op: 'create', id, state: loaded });
    return new ResumableSha256(id, engine);
  }

  update(chunk: Uint8Array): void | Promise<void> {
    // A copy of our own to hand over (the caller's buffer may be pooled or reused); its length is
    // read first, as transferring it detaches it.
    const copy = new Uint8Array(chunk.byteLength);
    copy.set(chunk);
    const bytes = copy.byteLength;
    this.backlog += bytes;
    thread.call(this.engine, { op: 'update', id: this.id, chunk: copy }, [copy.buffer]).then(
      () => this.consumed(bytes),
      (error: Error) => {
        this.failure ??= error;
        this.consumed(bytes);
      },
    );
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
    const state = (await thread.call(this.engine, { op: 'save', id: this.id })) as Uint8Array;
    if (this.failure) throw this.failure;
    const { native, tag } = this.engine;
    return native ? savedFromCtx(state, native, tag) : Buffer.from(state);
  }

  async hex(): Promise<string> {
    const digest = (await thread.call(this.engine, { op: 'digest', id: this.id })) as string;
    if (this.failure) throw this.failure;
    return digest;
  }

  /** Frees the state on the hashing thread (also done when the object is collected). */
  dispose(): void {
    finalizer.unregister(this);
    thread.free(this.id);
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
