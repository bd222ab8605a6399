import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The open upload sessions this machine started, so a re-run after a crash or a kill continues
 * the same session (the server lists the parts it already has) instead of starting again.
 * Keyed by server, digest and size; an entry is removed once its blob is ready.
 */
export interface RememberedUpload {
  readonly upload_id: string;
  readonly part_size: number;
}

type StateFile = Record<string, RememberedUpload>;

export class UploadStateStore {
  constructor(private readonly path: string) {}

  static key(server: string, digest: string, size: number): string {
    return `${server} ${digest} ${size}`;
  }

  get(key: string): RememberedUpload | undefined {
    return this.read()[key];
  }

  set(key: string, value: RememberedUpload): void {
    const state = this.read();
    state[key] = value;
    this.write(state);
  }

  delete(key: string): void {
    const state = this.read();
    if (!(key in state)) return;
    delete state[key];
    this.write(state);
  }

  private read(): StateFile {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as StateFile;
    } catch {
      return {};
    }
  }

  private write(state: StateFile): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
