import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import { countOf, rowsOf } from '../cas/sql-result';

export interface SubscriptionRow {
  readonly id: string;
  readonly url: string;
  readonly events: string[];
  readonly description: string | null;
  /** The whsec_ signing secret: read by the delivery runner, never answered by the API. */
  readonly secret: string;
  readonly enabled: boolean;
  readonly disabledAt: Date | null;
  readonly disabledReason: string | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface SubscriptionFields {
  readonly url: string;
  readonly events: readonly string[];
  readonly description: string | null;
}

const COLUMNS = `id, url, events, description, secret, enabled, disabled_at, disabled_reason, created_by,
  created_at, updated_at`;

function map(r: Record<string, unknown>): SubscriptionRow {
  return {
    id: r.id as string,
    url: r.url as string,
    events: r.events as string[],
    description: r.description as string | null,
    secret: r.secret as string,
    enabled: r.enabled as boolean,
    disabledAt: r.disabled_at as Date | null,
    disabledReason: r.disabled_reason as string | null,
    createdBy: r.created_by as string | null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

@Injectable()
export class WebhookSubscriptionRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    fields: SubscriptionFields & { secret: string; createdBy: string | null },
  ): Promise<SubscriptionRow> {
    const rows: Record<string, unknown>[] = await manager.query(
      `INSERT INTO webhook_subscription (url, events, description, secret, created_by)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
      [fields.url, fields.events, fields.description, fields.secret, fields.createdBy],
    );
    return map(rows[0]);
  }

  async find(
    id: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<SubscriptionRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${COLUMNS} FROM webhook_subscription WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return rows[0] ? map(rows[0]) : null;
  }

  /** Oldest first; limit + 1 rows. */
  async list(limit: number, cursor?: string): Promise<SubscriptionRow[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM webhook_subscription
        WHERE $1::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) > ($1::timestamptz, $2::uuid)
        ORDER BY date_trunc('milliseconds', created_at), id LIMIT $3`,
      [after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return rows.map(map);
  }

  /**
   * Replaces what a PUT replaces. Enabling clears the disable marks; disabling sets them with
   * `disabledReason`.
   */
  async replace(
    manager: EntityManager,
    id: string,
    fields: SubscriptionFields & { enabled: boolean; disabledReason: string },
  ): Promise<SubscriptionRow> {
    const rows = rowsOf<Record<string, unknown>>(
      await manager.query(
        `UPDATE webhook_subscription
            SET url = $2, events = $3, description = $4, enabled = $5,
                disabled_at = CASE WHEN $5 THEN NULL ELSE COALESCE(disabled_at, now()) END,
                disabled_reason = CASE WHEN $5 THEN NULL ELSE COALESCE(disabled_reason, $6) END
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, fields.url, fields.events, fields.description, fields.enabled, fields.disabledReason],
      ),
    );
    return map(rows[0]);
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`DELETE FROM webhook_subscription WHERE id = $1`, [id]);
  }

  /** Disables an enabled subscription; false when it was not enabled (or is gone). */
  async disable(manager: EntityManager, id: string, reason: string): Promise<boolean> {
    const result: unknown = await manager.query(
      `UPDATE webhook_subscription SET enabled = false, disabled_at = now(), disabled_reason = $2
        WHERE id = $1 AND enabled`,
      [id, reason],
    );
    return countOf(result) > 0;
  }
}
