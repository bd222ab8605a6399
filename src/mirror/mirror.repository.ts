import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { countOf, rowsOf } from '../cas/sql-result';
import { decodeCursor } from '../common/pagination';
import type { RemoteFilters } from './remote-fields';

export interface RemoteRow {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly caPem: string | null;
  readonly username: string | null;
  /** Sealed (credentials.ts); read by the sync runner, never answered. */
  readonly passwordSealed: string | null;
  readonly filters: RemoteFilters;
  readonly imageNameTemplate: string;
  readonly schedule: string | null;
  readonly keepLatest: number | null;
  readonly concurrency: number;
  readonly bandwidthLimitBps: number | null;
  readonly nextSyncAt: Date | null;
  readonly lastSuccessAt: Date | null;
  readonly upstreamValidators: Record<string, { etag?: string; lastModified?: string }>;
  /** Image name globs a sync may make versions of (the configuring principal's scope). */
  readonly imageScope: string[];
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface RemoteFields {
  readonly url: string;
  readonly caPem: string | null;
  readonly username: string | null;
  readonly filters: RemoteFilters;
  readonly imageNameTemplate: string;
  readonly schedule: string | null;
  readonly keepLatest: number | null;
  readonly concurrency: number;
  readonly bandwidthLimitBps: number | null;
  readonly nextSyncAt: Date | null;
  readonly imageScope: readonly string[];
}

export const SYNC_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

export interface SyncRow {
  readonly id: string;
  readonly remoteId: string;
  readonly remoteName: string;
  readonly state: SyncState;
  readonly trigger: 'manual' | 'schedule';
  readonly requestedBy: string | null;
  readonly itemsTotal: number;
  readonly itemsDone: number;
  readonly itemsFailed: number;
  readonly bytesTotal: number;
  readonly bytesFetched: number;
  readonly versionsPublished: number;
  readonly aliasesMoved: number;
  readonly error: string | null;
  readonly attempt: number;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: Date | null;
  readonly cancelRequested: boolean;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly heartbeatAt: Date | null;
  readonly finishedAt: Date | null;
}

export type ItemOutcome =
  'pending' | 'present' | 'fetched' | 'published' | 'unchanged' | 'failed' | 'skipped';

export interface SyncItemRow {
  readonly kind: 'file' | 'version';
  readonly key: string;
  readonly image: string | null;
  readonly version: string | null;
  readonly digest: string | null;
  readonly sizeBytes: number | null;
  readonly outcome: ItemOutcome;
  readonly bytesFetched: number;
  readonly uploadId: string | null;
  readonly attempts: number;
  readonly error: string | null;
  readonly updatedAt: Date;
}

const REMOTE_COLUMNS = `id, name, url, ca_pem, username, password_sealed, filters, image_name_template,
  schedule, keep_latest, concurrency, bandwidth_limit_bps, next_sync_at, last_success_at,
  upstream_validators, image_scope, created_by, created_at, updated_at`;

function mapRemote(r: Record<string, unknown>): RemoteRow {
  return {
    id: r.id as string,
    name: r.name as string,
    url: r.url as string,
    caPem: r.ca_pem as string | null,
    username: r.username as string | null,
    passwordSealed: r.password_sealed as string | null,
    filters: r.filters as RemoteFilters,
    imageNameTemplate: r.image_name_template as string,
    schedule: r.schedule as string | null,
    keepLatest: r.keep_latest as number | null,
    concurrency: r.concurrency as number,
    bandwidthLimitBps: r.bandwidth_limit_bps === null ? null : Number(r.bandwidth_limit_bps),
    nextSyncAt: r.next_sync_at as Date | null,
    lastSuccessAt: r.last_success_at as Date | null,
    upstreamValidators: r.upstream_validators as RemoteRow['upstreamValidators'],
    imageScope: r.image_scope as string[],
    createdBy: r.created_by as string | null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

const SYNC_COLUMNS = `s.id, s.remote_id, r.name AS remote_name, s.state, s.trigger, s.requested_by,
  s.items_total, s.items_done, s.items_failed, s.bytes_total, s.bytes_fetched, s.versions_published,
  s.aliases_moved, s.error, s.attempt, s.lease_owner, s.lease_expires_at, s.cancel_requested,
  s.created_at, s.started_at, s.heartbeat_at, s.finished_at`;

function mapSync(r: Record<string, unknown>): SyncRow {
  return {
    id: r.id as string,
    remoteId: r.remote_id as string,
    remoteName: r.remote_name as string,
    state: r.state as SyncState,
    trigger: r.trigger as SyncRow['trigger'],
    requestedBy: r.requested_by as string | null,
    itemsTotal: r.items_total as number,
    itemsDone: r.items_done as number,
    itemsFailed: r.items_failed as number,
    bytesTotal: Number(r.bytes_total),
    bytesFetched: Number(r.bytes_fetched),
    versionsPublished: r.versions_published as number,
    aliasesMoved: r.aliases_moved as number,
    error: r.error as string | null,
    attempt: r.attempt as number,
    leaseOwner: r.lease_owner as string | null,
    leaseExpiresAt: r.lease_expires_at as Date | null,
    cancelRequested: r.cancel_requested as boolean,
    createdAt: r.created_at as Date,
    startedAt: r.started_at as Date | null,
    heartbeatAt: r.heartbeat_at as Date | null,
    finishedAt: r.finished_at as Date | null,
  };
}

function mapItem(r: Record<string, unknown>): SyncItemRow {
  return {
    kind: r.kind as SyncItemRow['kind'],
    key: r.key as string,
    image: r.image as string | null,
    version: r.version as string | null,
    digest: r.digest as string | null,
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    outcome: r.outcome as ItemOutcome,
    bytesFetched: Number(r.bytes_fetched),
    uploadId: r.upload_id as string | null,
    attempts: r.attempts as number,
    error: r.error as string | null,
    updatedAt: r.updated_at as Date,
  };
}

/** The figures a running sync keeps up to date. */
export type SyncProgress = Pick<
  SyncRow,
  | 'itemsTotal'
  | 'itemsDone'
  | 'itemsFailed'
  | 'bytesTotal'
  | 'bytesFetched'
  | 'versionsPublished'
  | 'aliasesMoved'
>;

/** The fencing a running sync's writes carry: its worker and attempt. */
export interface SyncLease {
  readonly syncId: string;
  readonly owner: string;
  readonly attempt: number;
}

@Injectable()
export class MirrorRepository {
  constructor(private readonly dataSource: DataSource) {}

  // ---- remotes

  async insertRemote(
    manager: EntityManager,
    id: string,
    name: string,
    fields: RemoteFields,
    passwordSealed: string | null,
    createdBy: string | null,
  ): Promise<RemoteRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `INSERT INTO mirror_remote (id, name, url, ca_pem, username, password_sealed, filters,
         image_name_template, schedule, keep_latest, concurrency, bandwidth_limit_bps, next_sync_at, created_by,
         image_scope)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (name) DO NOTHING RETURNING ${REMOTE_COLUMNS}`,
      [
        id,
        name,
        fields.url,
        fields.caPem,
        fields.username,
        passwordSealed,
        JSON.stringify(fields.filters),
        fields.imageNameTemplate,
        fields.schedule,
        fields.keepLatest,
        fields.concurrency,
        fields.bandwidthLimitBps,
        fields.nextSyncAt,
        createdBy,
        fields.imageScope,
      ],
    );
    return rows[0] ? mapRemote(rows[0]) : null;
  }

  /**
   * Replaces a remote's settings. `passwordSealed` undefined keeps the stored password (unless the
   * username changed or went, which drops it); the validators of the last sync are forgotten, so
   * the next sync reads the documents whole under the new settings.
   */
  async updateRemote(
    manager: EntityManager,
    id: string,
    fields: RemoteFields,
    passwordSealed: string | null | undefined,
  ): Promise<RemoteRow> {
    const rows = rowsOf<Record<string, unknown>>(
      await manager.query(
        `UPDATE mirror_remote SET url = $2, ca_pem = $3,
            password_sealed = CASE WHEN $12::boolean THEN $13
                                   WHEN username IS DISTINCT FROM $4 THEN NULL
                                   ELSE password_sealed END,
            username = $4, filters = $5, image_name_template = $6, schedule = $7, keep_latest = $8,
            concurrency = $9, bandwidth_limit_bps = $10, next_sync_at = $11, image_scope = $14,
            upstream_validators = '{}'::jsonb, updated_at = now()
          WHERE id = $1 RETURNING ${REMOTE_COLUMNS}`,
        [
          id,
          fields.url,
          fields.caPem,
          fields.username,
          JSON.stringify(fields.filters),
          fields.imageNameTemplate,
          fields.schedule,
          fields.keepLatest,
          fields.concurrency,
          fields.bandwidthLimitBps,
          fields.nextSyncAt,
          passwordSealed !== undefined,
          passwordSealed ?? null,
          fields.imageScope,
        ],
      ),
    );
    return mapRemote(rows[0]);
  }

  async findRemote(
    name: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<RemoteRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${REMOTE_COLUMNS} FROM mirror_remote WHERE name = $1${lock ? ' FOR UPDATE' : ''}`,
      [name],
    );
    return rows[0] ? mapRemote(rows[0]) : null;
  }

  async findRemoteById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<RemoteRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${REMOTE_COLUMNS} FROM mirror_remote WHERE id = $1`,
      [id],
    );
    return rows[0] ? mapRemote(rows[0]) : null;
  }

  /** By name; limit + 1 rows. */
  async listRemotes(limit: number, cursor?: string): Promise<RemoteRow[]> {
    const after = decodeCursor(cursor, ['text']);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT ${REMOTE_COLUMNS} FROM mirror_remote WHERE $1::text IS NULL OR name > $1
        ORDER BY name LIMIT $2`,
      [after?.[0] ?? null, limit + 1],
    );
    return rows.map(mapRemote);
  }

  async deleteRemote(manager: EntityManager, id: string): Promise<void> {
    await manager.query(`DELETE FROM mirror_remote WHERE id = $1`, [id]);
  }

  /** Remotes whose schedule is due, locked so one sweeper starts each. */
  async dueRemotes(manager: EntityManager, limit: number): Promise<RemoteRow[]> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${REMOTE_COLUMNS} FROM mirror_remote
        WHERE schedule IS NOT NULL AND next_sync_at <= now()
        ORDER BY next_sync_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map(mapRemote);
  }

  async setNextSync(manager: EntityManager, id: string, at: Date | null): Promise<void> {
    await manager.query(`UPDATE mirror_remote SET next_sync_at = $2 WHERE id = $1`, [id, at]);
  }

  // ---- syncs

  /** A new queued sync, or null when the remote has a queued or running one. */
  async insertSync(
    manager: EntityManager,
    remoteId: string,
    trigger: SyncRow['trigger'],
    requestedBy: string | null,
  ): Promise<string | null> {
    const rows: { id: string }[] = await manager.query(
      `INSERT INTO mirror_sync (remote_id, trigger, requested_by) VALUES ($1, $2, $3)
       ON CONFLICT (remote_id) WHERE state IN ('queued', 'running') DO NOTHING RETURNING id`,
      [remoteId, trigger, requestedBy],
    );
    return rows[0]?.id ?? null;
  }

  async liveSync(manager: EntityManager, remoteId: string): Promise<SyncRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${SYNC_COLUMNS} FROM mirror_sync s JOIN mirror_remote r ON r.id = s.remote_id
        WHERE s.remote_id = $1 AND s.state IN ('queued', 'running')`,
      [remoteId],
    );
    return rows[0] ? mapSync(rows[0]) : null;
  }

  async findSync(
    id: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<SyncRow | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT ${SYNC_COLUMNS} FROM mirror_sync s JOIN mirror_remote r ON r.id = s.remote_id
        WHERE s.id = $1${lock ? ' FOR UPDATE OF s' : ''}`,
      [id],
    );
    return rows[0] ? mapSync(rows[0]) : null;
  }

  /** Newest first; limit + 1 rows. */
  async listSyncs(remoteId: string, limit: number, cursor?: string): Promise<SyncRow[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT ${SYNC_COLUMNS} FROM mirror_sync s JOIN mirror_remote r ON r.id = s.remote_id
        WHERE s.remote_id = $1 AND ($2::timestamptz IS NULL
              OR (date_trunc('milliseconds', s.created_at), s.id) < ($2::timestamptz, $3::uuid))
        ORDER BY date_trunc('milliseconds', s.created_at) DESC, s.id DESC LIMIT $4`,
      [remoteId, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return rows.map(mapSync);
  }

  /**
   * Takes a queued sync, or a running one whose lease ran out, for `owner`: the next attempt.
   * Null when it is finished, held by a live lease, or a cancel was asked for a queued one.
   */
  async claim(syncId: string, owner: string, leaseMs: number): Promise<SyncRow | null> {
    const rows = rowsOf<{ id: string }>(
      await this.dataSource.query(
        `UPDATE mirror_sync SET state = 'running', attempt = attempt + 1, lease_owner = $2,
            lease_expires_at = now() + $3 * interval '1 millisecond', heartbeat_at = now(),
            started_at = coalesce(started_at, now())
          WHERE id = $1 AND NOT cancel_requested
            AND (state = 'queued' OR (state = 'running' AND lease_expires_at < now()))
          RETURNING id`,
        [syncId, owner, leaseMs],
      ),
    );
    return rows[0] ? this.findSync(rows[0].id) : null;
  }

  /** Renews the lease; false when it was lost (another worker took over, or it finished). */
  async heartbeat(lease: SyncLease, leaseMs: number): Promise<{ held: boolean; cancel: boolean }> {
    const rows = rowsOf<{ cancel_requested: boolean }>(
      await this.dataSource.query(
        `UPDATE mirror_sync SET lease_expires_at = now() + $4 * interval '1 millisecond',
            heartbeat_at = now()
          WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running'
          RETURNING cancel_requested`,
        [lease.syncId, lease.owner, lease.attempt, leaseMs],
      ),
    );
    return { held: rows.length === 1, cancel: rows[0]?.cancel_requested ?? false };
  }

  /** Progress figures of a running sync, under its lease; false when the lease was lost. */
  async progress(lease: SyncLease, p: SyncProgress): Promise<boolean> {
    const result = await this.dataSource.query(
      `UPDATE mirror_sync SET items_total = $4, items_done = $5, items_failed = $6,
          bytes_total = $7, bytes_fetched = $8, versions_published = $9, aliases_moved = $10
        WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running'`,
      [
        lease.syncId,
        lease.owner,
        lease.attempt,
        p.itemsTotal,
        p.itemsDone,
        p.itemsFailed,
        p.bytesTotal,
        p.bytesFetched,
        p.versionsPublished,
        p.aliasesMoved,
      ],
    );
    return countOf(result) === 1;
  }

  /** Ends a running sync under its lease; false when the lease was lost. */
  async finish(
    manager: EntityManager,
    lease: SyncLease,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: string | null,
  ): Promise<boolean> {
    const result = await manager.query(
      `UPDATE mirror_sync SET state = $4, error = $5, finished_at = now(), lease_owner = NULL,
          lease_expires_at = NULL
        WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'running'`,
      [lease.syncId, lease.owner, lease.attempt, state, error],
    );
    return countOf(result) === 1;
  }

  /** Cancels a queued sync at once; asks a running one to stop. Answers the state after. */
  async requestCancel(manager: EntityManager, syncId: string): Promise<void> {
    await manager.query(
      `UPDATE mirror_sync SET
          state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
          finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
          error = CASE WHEN state = 'queued' THEN 'cancelled before it started' ELSE error END,
          cancel_requested = true
        WHERE id = $1 AND state IN ('queued', 'running')`,
      [syncId],
    );
  }

  async setRemoteResult(
    manager: EntityManager,
    remoteId: string,
    success: boolean,
    validators: RemoteRow['upstreamValidators'] | null,
  ): Promise<void> {
    await manager.query(
      `UPDATE mirror_remote SET
          last_success_at = CASE WHEN $2 THEN now() ELSE last_success_at END,
          upstream_validators = coalesce($3::jsonb, upstream_validators)
        WHERE id = $1`,
      [remoteId, success, validators === null ? null : JSON.stringify(validators)],
    );
  }

  /** Syncs that need a worker: queued ones older than `olderThanMs` and those whose lease ran out. */
  async runnable(olderThanMs: number, limit: number): Promise<{ id: string; attempt: number }[]> {
    return this.dataSource.query(
      `SELECT id, attempt FROM mirror_sync
        WHERE (state = 'queued' AND created_at < now() - $1 * interval '1 millisecond' AND NOT cancel_requested)
           OR (state = 'running' AND lease_expires_at < now())
        ORDER BY created_at LIMIT $2`,
      [olderThanMs, limit],
    );
  }

  /** A running sync whose cancel was asked but whose worker is gone: cancelled now. */
  async cancelAbandoned(): Promise<void> {
    await this.dataSource.query(
      `UPDATE mirror_sync SET state = 'cancelled', finished_at = now(), lease_owner = NULL,
          lease_expires_at = NULL, error = coalesce(error, 'cancelled')
        WHERE state = 'running' AND cancel_requested AND lease_expires_at < now()`,
    );
  }

  // ---- items

  async upsertItem(
    syncId: string,
    item: Omit<SyncItemRow, 'updatedAt' | 'attempts' | 'bytesFetched' | 'uploadId' | 'error'> &
      Partial<Pick<SyncItemRow, 'attempts' | 'bytesFetched' | 'uploadId' | 'error'>>,
  ): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO mirror_sync_item (sync_id, kind, key, image, version, digest, size_bytes, outcome,
          bytes_fetched, upload_id, attempts, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (sync_id, kind, key) DO UPDATE SET outcome = EXCLUDED.outcome,
          bytes_fetched = EXCLUDED.bytes_fetched, upload_id = coalesce(EXCLUDED.upload_id, mirror_sync_item.upload_id),
          attempts = EXCLUDED.attempts, error = EXCLUDED.error, updated_at = now()`,
      [
        syncId,
        item.kind,
        item.key,
        item.image,
        item.version,
        item.digest,
        item.sizeBytes,
        item.outcome,
        item.bytesFetched ?? 0,
        item.uploadId ?? null,
        item.attempts ?? 0,
        item.error ?? null,
      ],
    );
  }

  async items(syncId: string): Promise<SyncItemRow[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT kind, key, image, version, digest, size_bytes, outcome, bytes_fetched, upload_id,
              attempts, error, updated_at
         FROM mirror_sync_item WHERE sync_id = $1 ORDER BY kind, key`,
      [syncId],
    );
    return rows.map(mapItem);
  }

  /** The newest upload session an earlier sync of this remote left for a digest (to resume). */
  async lastUploadOf(remoteId: string, digest: string): Promise<string | null> {
    const rows: { upload_id: string }[] = await this.dataSource.query(
      `SELECT i.upload_id FROM mirror_sync_item i JOIN mirror_sync s ON s.id = i.sync_id
        WHERE s.remote_id = $1 AND i.digest = $2 AND i.upload_id IS NOT NULL
        ORDER BY i.updated_at DESC LIMIT 1`,
      [remoteId, digest],
    );
    return rows[0]?.upload_id ?? null;
  }
}
