import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { appendToFrontier, frontierRoot, leafHash, MerkleTree } from '../transparency/merkle';
import { checkpointText, signNote } from '../transparency/signed-note';
import { SigningKeys } from './signing-keys';

export type RecordKind = 'publication' | 'withdrawal';

export interface AppendInput {
  readonly kind: RecordKind;
  readonly versionId: string;
  readonly imageName: string;
  readonly version: string;
  /** The leaf's bytes (the Rekor `dsse` body). */
  readonly entry: Buffer;
  /** The signed envelope, exactly as it is served. */
  readonly envelope: string;
  readonly keyId: string;
}

export interface Appended {
  readonly logIndex: number;
  readonly treeSize: number;
}

export interface CheckpointRow {
  readonly treeSize: number;
  readonly root: Buffer;
  readonly note: string;
}

export interface LogEntryRow {
  readonly logIndex: number;
  readonly kind: RecordKind;
  readonly imageName: string;
  readonly version: string;
  readonly entry: Buffer;
  readonly envelope: string;
  readonly keyId: string;
  readonly integratedAt: Date;
}

interface EntrySql {
  log_index: string;
  kind: RecordKind;
  image_name: string;
  version: string;
  entry: Buffer;
  envelope: string;
  key_id: string;
  integrated_at: Date;
}

const toEntry = (r: EntrySql): LogEntryRow => ({
  logIndex: Number(r.log_index),
  kind: r.kind,
  imageName: r.image_name,
  version: r.version,
  entry: r.entry,
  envelope: r.envelope,
  keyId: r.key_id,
  integratedAt: r.integrated_at,
});

/** Rows loaded per query while the in-memory tree catches up with the log. */
const LOAD_BATCH = 5000;

/**
 * The transparency log in PostgreSQL. Appends run in the caller's transaction (the publish or
 * withdrawal they record), serialised by a lock on the head row: the entry, the new head and the
 * checkpoint for the new size, signed, commit together or not at all.
 *
 * Reads build the Merkle tree in memory from the entries (the log only grows, so what is loaded
 * stays true) and catch up to the latest checkpoint before answering.
 */
@Injectable()
export class TransparencyLog {
  private tree = new MerkleTree();
  private loading: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: SigningKeys,
  ) {}

  async append(manager: EntityManager, input: AppendInput): Promise<Appended> {
    const [head] = (await manager.query(
      'SELECT tree_size, frontier FROM transparency_log_head WHERE id = 1 FOR UPDATE',
    )) as { tree_size: string; frontier: Buffer[] }[];
    const index = Number(head.tree_size);
    const frontier = appendToFrontier(head.frontier, index, leafHash(input.entry));
    const root = frontierRoot(frontier);
    const size = index + 1;
    await manager.query(
      `INSERT INTO transparency_log_entry
         (log_index, kind, image_version_id, image_name, version, entry, envelope, key_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        index,
        input.kind,
        input.versionId,
        input.imageName,
        input.version,
        input.entry,
        input.envelope,
        input.keyId,
      ],
    );
    await manager.query(
      `UPDATE transparency_log_head SET tree_size = $1, root_hash = $2, frontier = $3,
         updated_at = now() WHERE id = 1`,
      [size, root, frontier],
    );
    await this.insertCheckpoint(manager, size, root);
    return { logIndex: index, treeSize: size };
  }

  private async insertCheckpoint(
    manager: EntityManager,
    size: number,
    root: Buffer,
  ): Promise<void> {
    const key = this.keys.current;
    const note = signNote(
      checkpointText({ origin: key.noteName, size, root }),
      key.noteName,
      key.privateKey,
      key.publicKey,
    );
    await manager.query(
      `INSERT INTO transparency_checkpoint (tree_size, root_hash, note, key_id)
       VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING`,
      [size, root, note, key.keyId],
    );
  }

  /** The newest checkpoint; an empty log gets its size-0 checkpoint signed on first read. */
  async latestCheckpoint(): Promise<CheckpointRow> {
    const found = await this.checkpointAt(null);
    if (found) return found;
    const [head] = (await this.dataSource.query(
      'SELECT tree_size, root_hash FROM transparency_log_head WHERE id = 1',
    )) as { tree_size: string; root_hash: Buffer }[];
    if (Number(head.tree_size) === 0)
      await this.insertCheckpoint(this.dataSource.manager, 0, head.root_hash);
    return (await this.checkpointAt(null)) as CheckpointRow;
  }

  /** The checkpoint signed for a tree size (every size the log has had has one). */
  async checkpointAt(size: number | null): Promise<CheckpointRow | null> {
    const rows = (await this.dataSource.query(
      size === null
        ? 'SELECT tree_size, root_hash, note FROM transparency_checkpoint ORDER BY tree_size DESC LIMIT 1'
        : 'SELECT tree_size, root_hash, note FROM transparency_checkpoint WHERE tree_size = $1',
      size === null ? [] : [size],
    )) as { tree_size: string; root_hash: Buffer; note: string }[];
    const row = rows[0];
    return row ? { treeSize: Number(row.tree_size), root: row.root_hash, note: row.note } : null;
  }

  /**
   * The tree with at least the checkpoint's leaves loaded, checked against the checkpoint's root.
   * A mismatch means the entries this process loaded are not the database's any more (a restore
   * from a backup): the tree is read again from the start, once; if the entries still do not hash
   * to the signed root, the log's rows were changed and nothing is served from them.
   */
  async treeAt(checkpoint: CheckpointRow): Promise<MerkleTree> {
    const tree = await this.treeOf(checkpoint.treeSize);
    if (tree.root(checkpoint.treeSize).equals(checkpoint.root)) return tree;
    this.tree = new MerkleTree();
    const reread = await this.treeOf(checkpoint.treeSize);
    if (!reread.root(checkpoint.treeSize).equals(checkpoint.root))
      throw new Error(
        `the transparency log's entries do not hash to its signed checkpoint of size ${checkpoint.treeSize}`,
      );
    return reread;
  }

  /** The tree with at least `size` leaves loaded. */
  private async treeOf(size: number): Promise<MerkleTree> {
    if (this.tree.size >= size) return this.tree;
    const load = this.loading.then(() => this.load(size));
    this.loading = load.catch(() => undefined);
    await load;
    return this.tree;
  }

  private async load(size: number): Promise<void> {
    const tree = this.tree;
    while (tree.size < size) {
      const from = tree.size;
      const rows = (await this.dataSource.query(
        `SELECT log_index, entry FROM transparency_log_entry
          WHERE log_index >= $1 AND log_index < $2 ORDER BY log_index`,
        [from, Math.min(size, from + LOAD_BATCH)],
      )) as { log_index: string; entry: Buffer }[];
      if (rows.length === 0 || Number(rows[0].log_index) !== from)
        throw new Error(`the transparency log has no entry ${from} although it is ${size} long`);
      for (const [i, row] of rows.entries()) {
        if (Number(row.log_index) !== from + i)
          throw new Error(`the transparency log has no entry ${from + i}`);
        tree.appendLeafHash(leafHash(row.entry));
      }
    }
  }

  async entries(from: number, count: number): Promise<LogEntryRow[]> {
    const rows = (await this.dataSource.query(
      `SELECT log_index, kind, image_name, version, entry, envelope, key_id, integrated_at
         FROM transparency_log_entry WHERE log_index >= $1 AND log_index < $2 ORDER BY log_index`,
      [from, from + count],
    )) as EntrySql[];
    return rows.map(toEntry);
  }

  async entriesOfVersion(
    versionId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<LogEntryRow[]> {
    const rows = (await manager.query(
      `SELECT log_index, kind, image_name, version, entry, envelope, key_id, integrated_at
         FROM transparency_log_entry WHERE image_version_id = $1 ORDER BY log_index`,
      [versionId],
    )) as EntrySql[];
    return rows.map(toEntry);
  }

  /** The kinds of record each of these versions has (versions without any are left out). */
  async recordedKinds(versionIds: readonly string[]): Promise<Map<string, Set<RecordKind>>> {
    const rows = (await this.dataSource.query(
      `SELECT image_version_id, kind FROM transparency_log_entry WHERE image_version_id = ANY($1::uuid[])`,
      [versionIds],
    )) as { image_version_id: string; kind: RecordKind }[];
    const kinds = new Map<string, Set<RecordKind>>();
    for (const r of rows) {
      const set = kinds.get(r.image_version_id) ?? new Set<RecordKind>();
      set.add(r.kind);
      kinds.set(r.image_version_id, set);
    }
    return kinds;
  }

  async hasRecord(manager: EntityManager, versionId: string, kind: RecordKind): Promise<boolean> {
    const rows = (await manager.query(
      'SELECT 1 FROM transparency_log_entry WHERE image_version_id = $1 AND kind = $2',
      [versionId, kind],
    )) as unknown[];
    return rows.length > 0;
  }

  async keyRows(): Promise<
    { key_id: string; public_key_pem: string; created_at: Date; retired_at: Date | null }[]
  > {
    return this.dataSource.query(
      `SELECT key_id, public_key_pem, created_at, retired_at FROM provenance_key
        ORDER BY created_at, key_id`,
    );
  }
}
