import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { decodeCursor } from '../common/pagination';
import {
  PublishJobEntity,
  PublishStepEntity,
  type JobState,
  type StepName,
  type StepState,
} from './publish-job.entity';
import { STEPS } from './step-plan';

export interface Lease {
  readonly jobId: string;
  readonly step: StepName;
  readonly owner: string;
  readonly attempt: number;
}

export interface Claim extends Lease {
  readonly versionId: string;
  /** Attempts since the last manual retry, this one included (for the automatic budget). */
  readonly attemptsInBudget: number;
  /** The step was running under another lease that expired: a takeover. */
  readonly takeover: boolean;
}

/** A job as the API shows it: the job, its steps, and the image and version it publishes. */
export interface JobView {
  readonly job: PublishJobEntity;
  readonly steps: PublishStepEntity[];
  readonly imageName: string;
  readonly version: string;
}

export interface RunnableStep {
  readonly jobId: string;
  readonly step: StepName;
  readonly attempt: number;
}

/** A step `s` that may be claimed, by its own state: queued and due, or running past its lease. */
const RUNNABLE_STATE = `
  ((s.state = 'queued' AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now()))
   OR (s.state = 'running' AND s.lease_expires_at < now()))`;

/** A step `s` that may be claimed: runnable by its state, and every step before it succeeded. */
const RUNNABLE = `
  ${RUNNABLE_STATE}
  AND NOT EXISTS (SELECT 1 FROM publish_step p
                   WHERE p.job_id = s.job_id AND p.sequence < s.sequence AND p.state <> 'succeeded')`;

/**
 * The rows an UPDATE … RETURNING gave back. TypeORM's PostgreSQL driver answers UPDATE and DELETE
 * with `[rows, affectedCount]` and other commands with the rows alone.
 */
function returnedRows<T>(result: T[] | [T[], number]): T[] {
  return result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number'
    ? (result[0] as T[])
    : (result as T[]);
}

/** One row of viewsOf's statement: the job's columns, its subject, its steps as JSON. */
interface JobViewRow {
  id: string;
  version_id: string;
  state: JobState;
  requested_by: string | null;
  failure_message: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  image_name: string;
  version: string;
  steps: StepJson[] | null;
}

/** A step as json_build_object gives it: timestamps as ISO strings. */
interface StepJson {
  name: StepName;
  sequence: number;
  state: StepState;
  attempt_count: number;
  lease_owner: string | null;
  lease_attempt: number | null;
  lease_expires_at: string | null;
  next_attempt_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  failure_message: string | null;
  result: Record<string, unknown> | null;
}

const dateOf = (iso: string | null): Date | null => (iso === null ? null : new Date(iso));

function jobViewOf(row: JobViewRow): JobView {
  const job = Object.assign(new PublishJobEntity(), {
    id: row.id,
    versionId: row.version_id,
    state: row.state,
    requestedBy: row.requested_by,
    failureMessage: row.failure_message,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  });
  const steps = (row.steps ?? []).map((s) =>
    Object.assign(new PublishStepEntity(), {
      jobId: row.id,
      name: s.name,
      sequence: s.sequence,
      state: s.state,
      attemptCount: s.attempt_count,
      leaseOwner: s.lease_owner,
      leaseAttempt: s.lease_attempt,
      leaseExpiresAt: dateOf(s.lease_expires_at),
      nextAttemptAt: dateOf(s.next_attempt_at),
      startedAt: dateOf(s.started_at),
      finishedAt: dateOf(s.finished_at),
      failureMessage: s.failure_message,
      result: s.result,
    }),
  );
  return { job, steps, imageName: row.image_name, version: row.version };
}

@Injectable()
export class PublishJobRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insertWithSteps(
    manager: EntityManager,
    versionId: string,
    requestedBy: string | null,
  ): Promise<string> {
    const rows: { id: string }[] = await manager.query(
      `INSERT INTO publish_job (version_id, requested_by) VALUES ($1, $2) RETURNING id`,
      [versionId, requestedBy],
    );
    const id = rows[0].id;
    await manager.query(
      `INSERT INTO publish_step (job_id, name, sequence) SELECT $1, name, ord::smallint
         FROM unnest($2::text[]) WITH ORDINALITY AS t(name, ord)`,
      [id, STEPS],
    );
    return id;
  }

  findById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<PublishJobEntity | null> {
    return manager.getRepository(PublishJobEntity).findOneBy({ id });
  }

  /** The job of a version that is not over (or that succeeded), if any. */
  findLive(manager: EntityManager, versionId: string): Promise<PublishJobEntity | null> {
    return manager
      .getRepository(PublishJobEntity)
      .createQueryBuilder('j')
      .where('j.version_id = :versionId', { versionId })
      .andWhere(`j.state IN ('queued', 'running', 'failed', 'succeeded')`)
      .getOne();
  }

  findLatestForVersion(versionId: string): Promise<PublishJobEntity | null> {
    return this.dataSource
      .getRepository(PublishJobEntity)
      .findOne({ where: { versionId }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  /**
   * The views of these jobs, in the order of `ids` (missing ones left out): each job with its image's
   * name, its version and its steps in one statement, however many jobs (a job page refreshed every
   * second, a CLI waiting on a job, a page of fifty jobs). Plain SQL mapped by hand: clients poll
   * this, and TypeORM's query building and hydration cost more than the statement itself.
   */
  async viewsOf(ids: readonly string[]): Promise<JobView[]> {
    if (ids.length === 0) return [];
    const rows: JobViewRow[] = await this.dataSource.query(
      `SELECT j.id, j.version_id, j.state, j.requested_by, j.failure_message,
              j.created_at, j.started_at, j.finished_at, j.updated_at,
              i.name AS image_name, v.version,
              (SELECT json_agg(json_build_object(
                        'name', s.name, 'sequence', s.sequence, 'state', s.state,
                        'attempt_count', s.attempt_count, 'lease_owner', s.lease_owner,
                        'lease_attempt', s.lease_attempt, 'lease_expires_at', s.lease_expires_at,
                        'next_attempt_at', s.next_attempt_at, 'started_at', s.started_at,
                        'finished_at', s.finished_at, 'failure_message', s.failure_message,
                        'result', s.result) ORDER BY s.sequence)
                 FROM publish_step s WHERE s.job_id = j.id) AS steps
         FROM publish_job j
         JOIN image_version v ON v.id = j.version_id
         JOIN image i ON i.id = v.image_id
        WHERE j.id = ANY($1::uuid[])`,
      [[...ids]],
    );
    const byId = new Map(rows.map((row) => [row.id, jobViewOf(row)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Jobs newest first, of images whose name matches one of `imagePatterns` (regular expressions:
   * the caller's content.read scope); limit + 1 rows.
   */
  async list(
    state: JobState | undefined,
    imagePatterns: readonly string[],
    limit: number,
    cursor?: string,
  ): Promise<PublishJobEntity[]> {
    const after = decodeCursor(cursor, ['timestamp', 'uuid']);
    const qb = this.dataSource.getRepository(PublishJobEntity).createQueryBuilder('j');
    qb.where(
      `EXISTS (SELECT 1 FROM image_version v JOIN image i ON i.id = v.image_id
                WHERE v.id = j.version_id AND i.name ~ ANY(:patterns::text[]))`,
      { patterns: [...imagePatterns] },
    );
    if (state) qb.andWhere('j.state = :state', { state });
    if (after) {
      qb.andWhere(
        `(date_trunc('milliseconds', j.created_at), j.id) < (:at::timestamptz, :id::uuid)`,
        {
          at: after[0],
          id: after[1],
        },
      );
    }
    return qb
      .orderBy(`date_trunc('milliseconds', j.created_at)`, 'DESC')
      .addOrderBy('j.id', 'DESC')
      .limit(limit + 1)
      .getMany();
  }

  /**
   * Claims the next runnable step of a job (all earlier steps succeeded; queued and due, or
   * running under an expired lease) with FOR UPDATE SKIP LOCKED, and leases it to `owner`.
   * The step is found as the job's first one not succeeded, by (job_id, sequence): a few rows
   * whatever the table holds. Asked for runnable steps of the job, the planner may take the
   * index of runnable steps instead, which also holds the entries of every earlier version of
   * every step until a vacuum removes them: at 10,000 publishes without one, each claim read
   * 60,000 of them (2-6 ms instead of under one).
   * The job row is locked (or skipped) together with the step: retry and cancel lock the job
   * first and then its steps, so a claim that locked the step and then waited for the job would
   * deadlock with them; it skips instead, and the retry's or sweeper's wake-up comes later.
   */
  async claimNext(jobId: string, owner: string, leaseMs: number): Promise<Claim | null> {
    return this.dataSource.transaction(async (manager) => {
      const rows: {
        job_id: string;
        name: StepName;
        version_id: string;
        lease_attempt: number;
        attempt_count: number;
        attempt_base: number;
        prev_state: string;
      }[] = await manager.query(
        `WITH candidate AS (
           SELECT s.job_id, s.name, s.state AS prev_state, j.version_id
             FROM publish_step s JOIN publish_job j ON j.id = s.job_id
            WHERE s.job_id = $1
              AND s.sequence = (SELECT min(p.sequence) FROM publish_step p
                                 WHERE p.job_id = $1 AND p.state <> 'succeeded')
              AND j.state IN ('queued', 'running') AND ${RUNNABLE_STATE}
              FOR UPDATE OF s, j SKIP LOCKED)
         UPDATE publish_step s
            SET state = 'running', attempt_count = s.attempt_count + 1, lease_owner = $2,
                lease_attempt = s.attempt_count + 1,
                lease_expires_at = now() + make_interval(secs => $3::double precision / 1000),
                started_at = COALESCE(s.started_at, now()), next_attempt_at = NULL, failure_message = NULL
           FROM candidate c
          WHERE s.job_id = c.job_id AND s.name = c.name
         RETURNING s.job_id, s.name, c.version_id, s.lease_attempt, s.attempt_count, s.attempt_base, c.prev_state`,
        [jobId, owner, leaseMs],
      );
      const row = returnedRows(rows)[0];
      if (!row) return null;
      await manager.query(
        `UPDATE publish_job SET state = 'running', started_at = COALESCE(started_at, now()) WHERE id = $1 AND state = 'queued'`,
        [jobId],
      );
      return {
        jobId: row.job_id,
        step: row.name,
        versionId: row.version_id,
        owner,
        attempt: row.lease_attempt,
        attemptsInBudget: row.attempt_count - row.attempt_base,
        takeover: row.prev_state === 'running',
      };
    });
  }

  /** Extends a lease still held; false when it was lost. */
  async renew(lease: Lease, leaseMs: number): Promise<boolean> {
    const result: [unknown[], number] = await this.dataSource.query(
      `UPDATE publish_step SET lease_expires_at = now() + make_interval(secs => $5::double precision / 1000)
        WHERE job_id = $1 AND name = $2 AND state = 'running' AND lease_owner = $3 AND lease_attempt = $4`,
      [lease.jobId, lease.step, lease.owner, lease.attempt, leaseMs],
    );
    return result[1] > 0;
  }

  /**
   * Locks the step row if this lease still holds it: the fence every result write passes first,
   * in the transaction that writes the result.
   */
  async holdsLease(manager: EntityManager, lease: Lease): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM publish_step
        WHERE job_id = $1 AND name = $2 AND state = 'running' AND lease_owner = $3 AND lease_attempt = $4
          FOR UPDATE`,
      [lease.jobId, lease.step, lease.owner, lease.attempt],
    );
    return rows.length > 0;
  }

  /** Marks the leased step succeeded (caller holds the fence); the job too after the last step. */
  async markSucceeded(
    manager: EntityManager,
    lease: Lease,
    result: Record<string, unknown>,
  ): Promise<void> {
    await manager.query(
      `UPDATE publish_step
          SET state = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              failure_message = NULL, result = $3
        WHERE job_id = $1 AND name = $2`,
      [lease.jobId, lease.step, JSON.stringify(result)],
    );
    if (lease.step === STEPS[STEPS.length - 1]) {
      await manager.query(
        `UPDATE publish_job SET state = 'succeeded', finished_at = now(), failure_message = NULL WHERE id = $1`,
        [lease.jobId],
      );
    }
  }

  /** Gives the step back to the queue for another automatic attempt after `delayMs`. */
  async requeue(
    manager: EntityManager,
    lease: Lease,
    delayMs: number,
    message: string,
  ): Promise<void> {
    await manager.query(
      `UPDATE publish_step
          SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, failure_message = $3,
              next_attempt_at = now() + make_interval(secs => $4::double precision / 1000)
        WHERE job_id = $1 AND name = $2`,
      [lease.jobId, lease.step, message, delayMs],
    );
  }

  /** Fails the step and its job. */
  async markFailed(manager: EntityManager, lease: Lease, message: string): Promise<void> {
    await manager.query(
      `UPDATE publish_step
          SET state = 'failed', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, failure_message = $3
        WHERE job_id = $1 AND name = $2`,
      [lease.jobId, lease.step, message],
    );
    await manager.query(
      `UPDATE publish_job SET state = 'failed', finished_at = now(), failure_message = $2 WHERE id = $1`,
      [lease.jobId, `${lease.step}: ${message}`],
    );
  }

  /** Steps that should be running and may have no live BullMQ job (sweeper). */
  async findRunnable(limit: number, minQueuedAgeMs: number): Promise<RunnableStep[]> {
    const rows: { job_id: string; name: StepName; attempt_count: number }[] =
      await this.dataSource.query(
        `SELECT s.job_id, s.name, s.attempt_count
         FROM publish_step s JOIN publish_job j ON j.id = s.job_id
        WHERE j.state IN ('queued', 'running') AND ${RUNNABLE}
          AND (s.state = 'running'
               OR GREATEST(s.updated_at, COALESCE(s.next_attempt_at, s.updated_at))
                  < now() - make_interval(secs => $2::double precision / 1000))
        ORDER BY s.updated_at
        LIMIT $1`,
        [limit, minQueuedAgeMs],
      );
    return rows.map((r) => ({ jobId: r.job_id, step: r.name, attempt: r.attempt_count }));
  }

  /** Failed job → queued again from its first failed step, earlier successes kept. */
  async reopen(manager: EntityManager, jobId: string): Promise<void> {
    await manager.query(
      `UPDATE publish_step SET state = 'queued', finished_at = NULL, next_attempt_at = NULL, attempt_base = attempt_count
        WHERE job_id = $1 AND state IN ('failed', 'queued')`,
      [jobId],
    );
    await manager.query(
      `UPDATE publish_job SET state = 'queued', finished_at = NULL, failure_message = NULL WHERE id = $1`,
      [jobId],
    );
  }

  async cancel(manager: EntityManager, jobId: string): Promise<void> {
    await manager.query(
      `UPDATE publish_step SET state = 'skipped', lease_owner = NULL, lease_expires_at = NULL
        WHERE job_id = $1 AND state IN ('queued', 'running')`,
      [jobId],
    );
    await manager.query(
      `UPDATE publish_job SET state = 'cancelled', finished_at = now() WHERE id = $1`,
      [jobId],
    );
  }

  lockJob(manager: EntityManager, jobId: string): Promise<PublishJobEntity | null> {
    return manager
      .getRepository(PublishJobEntity)
      .createQueryBuilder('j')
      .setLock('pessimistic_write')
      .where('j.id = :jobId', { jobId })
      .getOne();
  }

  async anyStepStarted(manager: EntityManager, jobId: string): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM publish_step WHERE job_id = $1 AND started_at IS NOT NULL LIMIT 1`,
      [jobId],
    );
    return rows.length > 0;
  }
}
