import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * What `imgsrv verify` remembers per server, as Go's checksum-database client does: the log
 * origin, the public keys it trusts (first use, or given with --key) and the newest checkpoint it
 * has verified. Every later verification must find the log consistent with that checkpoint.
 */
export interface TrustedServer {
  readonly origin: string;
  /** key id → SPKI PEM */
  readonly keys: Record<string, string>;
  readonly checkpoint?: { readonly size: number; readonly root: string; readonly note: string };
}

type StateFile = Record<string, TrustedServer>;

export class TrustStore {
  constructor(private readonly path: string) {}

  get(server: string): TrustedServer | undefined {
    return this.read()[server];
  }

  set(server: string, value: TrustedServer): void {
    const state = this.read();
    state[server] = value;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  private read(): StateFile {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as StateFile;
    } catch {
      return {};
    }
  }
}
