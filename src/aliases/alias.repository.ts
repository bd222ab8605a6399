import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';

export interface AliasRow {
  readonly id: string;
  readonly imageId: string;
  readonly alias: string;
  readonly versionId: string;
  readonly version: string;
  readonly generation: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const SELECT = `SELECT a.id, a.image_id, a.alias, a.version_id, v.version, a.generation, a.created_at, a.updated_at
                  FROM alias a JOIN image_version v ON v.id = a.version_id`;

function map(r: Record<string, unknown>): AliasRow {
  return {
    id: r.id as string,
    imageId: r.image_id as string,
    alias: r.alias as string,
    versionId: r.version_id as string,
    version: r.version as string,
    generation: Number(r.generation),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

@Injectable()
export class AliasRepository {
  constructor(private readonly dataSource: DataSource) {}

  async find(
    imageId: string,
    alias: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<AliasRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `${SELECT} WHERE a.image_id = $1 AND a.alias = $2${lock ? ' FOR UPDATE OF a' : ''}`,
      [imageId, alias],
    );
    return rows[0] ? map(rows[0]) : null;
  }

  /** The aliases that point at a version, locked for the caller's transaction, by name. */
  async pointingAt(manager: EntityManager, versionId: string): Promise<AliasRow[]> {
    const rows: Record<string, unknown>[] = await manager.query(
      `${SELECT} WHERE a.version_id = $1 ORDER BY a.alias FOR UPDATE OF a`,
      [versionId],
    );
    return rows.map(map);
  }

  async list(imageId: string, limit: number, cursor?: string): Promise<AliasRow[]> {
    const after = decodeCursor(cursor, ['text']);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `${SELECT} WHERE a.image_id = $1 AND ($2::text IS NULL OR a.alias > $2) ORDER BY a.alias LIMIT $3`,
      [imageId, after ? String(after[0]) : null, limit + 1],
    );
    return rows.map(map);
  }

  async upsert(
    manager: EntityManager,
    imageId: string,
    alias: string,
    versionId: string,
  ): Promise<void> {
    await manager.query(
      `INSERT INTO alias (image_id, alias, version_id) VALUES ($1, $2, $3)
       ON CONFLICT ON CONSTRAINT uq_alias_image_name DO UPDATE SET version_id = EXCLUDED.version_id`,
      [imageId, alias, versionId],
    );
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`DELETE FROM alias WHERE id = $1`, [id]);
  }
}
