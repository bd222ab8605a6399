import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/errors/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { leafHash } from '../transparency/merkle';
import { parseTilePath, TILE_HEIGHT, TILE_WIDTH } from '../transparency/tiles';
import type {
  ConsistencyProofDto,
  InclusionProofDto,
  ProvenanceKeysDto,
} from './dto/provenance.dto';
import { TransparencyLog, type CheckpointRow } from './transparency-log';

const b64 = (b: Buffer) => b.toString('base64');

/** The log's read side over HTTP: keys, checkpoints, tiles and proofs. */
@Injectable()
export class LogReader {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly log: TransparencyLog,
  ) {}

  async keys(): Promise<ProvenanceKeysDto> {
    const rows = await this.log.keyRows();
    return {
      log_origin: this.config.provenance.logOrigin,
      keys: rows.map((r) => ({
        key_id: r.key_id,
        algorithm: 'ed25519',
        public_key_pem: r.public_key_pem,
        active: r.retired_at === null,
        created_at: r.created_at.toISOString(),
        retired_at: r.retired_at?.toISOString() ?? null,
      })),
    };
  }

  latestCheckpoint(): Promise<CheckpointRow> {
    return this.log.latestCheckpoint();
  }

  async tile(path: string): Promise<Buffer> {
    const ref = parseTilePath(path);
    const missing = () =>
      new DomainError('TILE_NOT_FOUND', `The log has no tile ${JSON.stringify(path)}.`);
    if (!ref) throw missing();
    const latest = await this.log.latestCheckpoint();
    const { treeSize } = latest;
    const tree = await this.log.treeAt(latest);
    const start = ref.index * TILE_WIDTH;
    if (ref.level === 'entries') {
      if (start + ref.width > treeSize) throw missing();
      const rows = await this.log.entries(start, ref.width);
      const parts: Buffer[] = [];
      for (const row of rows) {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(row.entry.length);
        parts.push(length, row.entry);
      }
      return Buffer.concat(parts);
    }
    const height = ref.level * TILE_HEIGHT;
    if (start + ref.width > tree.completeAt(height)) throw missing();
    return tree.run(height, start, ref.width);
  }

  async inclusion(index: number, size: number | null): Promise<InclusionProofDto> {
    const checkpoint = await this.checkpointFor(size);
    if (index >= checkpoint.treeSize)
      throw new DomainError(
        'LOG_RANGE',
        `Entry ${index} is not in a tree of ${checkpoint.treeSize} entries.`,
      );
    const tree = await this.log.treeAt(checkpoint);
    const [entry] = await this.log.entries(index, 1);
    return {
      log_index: index,
      tree_size: checkpoint.treeSize,
      leaf_hash: b64(leafHash(entry.entry)),
      hashes: tree.inclusionProof(index, checkpoint.treeSize).map(b64),
      checkpoint: checkpoint.note,
    };
  }

  async consistency(from: number, to: number | null): Promise<ConsistencyProofDto> {
    const checkpoint = await this.checkpointFor(to);
    if (from > checkpoint.treeSize)
      throw new DomainError('LOG_RANGE', `from (${from}) is beyond to (${checkpoint.treeSize}).`);
    const tree = await this.log.treeAt(checkpoint);
    return {
      from,
      to: checkpoint.treeSize,
      hashes: tree.consistencyProof(from, checkpoint.treeSize).map(b64),
      checkpoint: checkpoint.note,
    };
  }

  /** The checkpoint of a tree size (every size the log has had was signed), or the latest. */
  private async checkpointFor(size: number | null): Promise<CheckpointRow> {
    const latest = await this.log.latestCheckpoint();
    if (size === null || size === latest.treeSize) return latest;
    if (size > latest.treeSize)
      throw new DomainError(
        'LOG_RANGE',
        `The log has ${latest.treeSize} entries; there is no tree of ${size}.`,
      );
    const found = await this.log.checkpointAt(size);
    // Every size from 1 on was signed as it was reached; the empty tree only if it was read.
    if (!found)
      throw new DomainError('LOG_RANGE', `No checkpoint of the log was signed at size ${size}.`);
    return found;
  }
}
