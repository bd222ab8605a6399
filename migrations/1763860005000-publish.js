// @ts-check
/**
 * Publish jobs and their ordered steps. PostgreSQL is the authority: a step runs only under a
 * lease (owner, attempt, expiry) and commits its result only while it still holds it; Redis only
 * wakes workers.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Publish1763860005000 {
  name = 'Publish1763860005000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE publish_job (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        version_id uuid NOT NULL,
        state text NOT NULL DEFAULT 'queued',
        requested_by uuid NULL,
        failure_message text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz NULL,
        finished_at timestamptz NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_publish_job PRIMARY KEY (id),
        CONSTRAINT fk_publish_job_version FOREIGN KEY (version_id) REFERENCES image_version (id) ON DELETE CASCADE,
        CONSTRAINT ck_publish_job_state CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        CONSTRAINT ck_publish_job_finished CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
      )`);
    // At most one job per version that is not over yet (or that succeeded).
    await q.query(`CREATE UNIQUE INDEX uq_publish_job_live ON publish_job (version_id)
      WHERE state IN ('queued', 'running', 'failed', 'succeeded')`);
    await q.query(`CREATE INDEX ix_publish_job_created ON publish_job (created_at, id)`);
    await q.query(`CREATE TRIGGER trg_publish_job_updated_at BEFORE UPDATE ON publish_job
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);

    await q.query(`
      CREATE TABLE publish_step (
        job_id uuid NOT NULL,
        name text NOT NULL,
        sequence smallint NOT NULL,
        state text NOT NULL DEFAULT 'queued',
        attempt_count integer NOT NULL DEFAULT 0,
        attempt_base integer NOT NULL DEFAULT 0,
        lease_owner text NULL,
        lease_attempt integer NULL,
        lease_expires_at timestamptz NULL,
        next_attempt_at timestamptz NULL,
        started_at timestamptz NULL,
        finished_at timestamptz NULL,
        failure_message text NULL,
        result jsonb NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_publish_step PRIMARY KEY (job_id, name),
        CONSTRAINT uq_publish_step_sequence UNIQUE (job_id, sequence),
        CONSTRAINT fk_publish_step_job FOREIGN KEY (job_id) REFERENCES publish_job (id) ON DELETE CASCADE,
        CONSTRAINT ck_publish_step_name CHECK (name IN ('validate_catalog', 'incus_index', 'finalize_publish')),
        CONSTRAINT ck_publish_step_state CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'skipped')),
        CONSTRAINT ck_publish_step_lease CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX ix_publish_step_runnable ON publish_step (state, lease_expires_at, next_attempt_at)
      WHERE state IN ('queued', 'running')`);
    await q.query(`CREATE TRIGGER trg_publish_step_updated_at BEFORE UPDATE ON publish_step
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE publish_step');
    await q.query('DROP TABLE publish_job');
  }
}

module.exports = { Publish1763860005000 };
