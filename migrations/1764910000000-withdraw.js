// @ts-check
/**
 * Withdrawal: a published version can move on to `withdrawn`, its terminal state. The manifest
 * stays frozen (manifest_guard already refuses every change to a non-draft's rows); the version
 * records when, by whom and why, and whether downloads stop at once (`withdrawn_immediate`).
 * `purge_after` is when the grace after a withdrawal ends (the withdrawal itself for an immediate
 * one); `purged_at` is set once it has passed: from then on the version no
 * longer cites its blobs for the garbage collector, and downloads of what only it shipped answer
 * 410. Purging is the one change a withdrawn row takes.
 *
 * An alias never points at a withdrawn version: the withdrawal is refused while one does
 * (image_version_withdraw_aliased), and alias_guard now reads its target FOR SHARE so that an
 * alias move and a withdrawal of its target cannot both commit.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Withdraw1764910000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      ALTER TABLE image_version
        ADD COLUMN withdrawn_at timestamptz,
        ADD COLUMN withdrawn_by uuid,
        ADD COLUMN withdrawn_reason text,
        ADD COLUMN withdrawn_immediate boolean NOT NULL DEFAULT false,
        ADD COLUMN purge_after timestamptz,
        ADD COLUMN purged_at timestamptz,
        DROP CONSTRAINT ck_image_version_state,
        DROP CONSTRAINT ck_image_version_published_at,
        ADD CONSTRAINT ck_image_version_state
          CHECK (state IN ('draft', 'publishing', 'published', 'withdrawn')),
        ADD CONSTRAINT ck_image_version_published_at
          CHECK ((state IN ('published', 'withdrawn')) = (published_at IS NOT NULL)),
        ADD CONSTRAINT ck_image_version_withdrawn
          CHECK (
            (state = 'withdrawn')
              = (withdrawn_at IS NOT NULL AND withdrawn_reason IS NOT NULL AND purge_after IS NOT NULL)
          ),
        ADD CONSTRAINT ck_image_version_immediate
          CHECK (NOT withdrawn_immediate OR state = 'withdrawn'),
        ADD CONSTRAINT ck_image_version_purged
          CHECK (purged_at IS NULL OR state = 'withdrawn')`);
    await q.query(
      `CREATE INDEX ix_image_version_unpurged ON image_version (purge_after)
        WHERE state = 'withdrawn' AND purged_at IS NULL`,
    );
    await q.query(`
      CREATE OR REPLACE FUNCTION image_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        kept image_version;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.state <> 'draft' THEN
            RAISE EXCEPTION 'version % is %, only drafts can be deleted', OLD.version, OLD.state
              USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_delete_not_draft';
          END IF;
          RETURN OLD;
        END IF;
        IF OLD.state IN ('published', 'withdrawn') THEN
          -- What a withdrawal (published → withdrawn) or a purge (of a withdrawn version) may
          -- set; every other column stays as it was.
          kept := NEW;
          kept.updated_at := OLD.updated_at;
          IF OLD.state = 'published' AND NEW.state = 'withdrawn' THEN
            kept.state := OLD.state;
            kept.withdrawn_at := OLD.withdrawn_at;
            kept.withdrawn_by := OLD.withdrawn_by;
            kept.withdrawn_reason := OLD.withdrawn_reason;
            kept.withdrawn_immediate := OLD.withdrawn_immediate;
            kept.purge_after := OLD.purge_after;
            kept.purged_at := OLD.purged_at;
          ELSIF OLD.state = 'withdrawn' AND OLD.purged_at IS NULL THEN
            kept.purged_at := OLD.purged_at;
          END IF;
          IF ROW(kept.*) IS DISTINCT FROM ROW(OLD.*) THEN
            RAISE EXCEPTION 'version % is % and frozen', OLD.version, OLD.state
              USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_frozen';
          END IF;
          IF NEW.state = 'withdrawn' AND OLD.state = 'published'
             AND EXISTS (SELECT 1 FROM alias WHERE version_id = OLD.id) THEN
            RAISE EXCEPTION 'version % is the target of an alias; move the alias first', OLD.version
              USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_withdraw_aliased';
          END IF;
          NEW.updated_at := now();
          RETURN NEW;
        END IF;
        IF NEW.id <> OLD.id OR NEW.image_id <> OLD.image_id OR NEW.version <> OLD.version
           OR NEW.created_at <> OLD.created_at OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
          RAISE EXCEPTION 'the identity of version % cannot change', OLD.version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_identity';
        END IF;
        IF NEW.state <> OLD.state AND NOT (
             (OLD.state = 'draft' AND NEW.state = 'publishing')
          OR (OLD.state = 'publishing' AND NEW.state = 'published')
          OR (OLD.state = 'publishing' AND NEW.state = 'draft')) THEN
          RAISE EXCEPTION 'version % cannot move from % to %', OLD.version, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_transition';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION alias_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_image uuid;
        v_state text;
      BEGIN
        SELECT image_id, state INTO v_image, v_state FROM image_version
         WHERE id = NEW.version_id FOR SHARE;
        IF v_image IS DISTINCT FROM NEW.image_id OR v_state IS DISTINCT FROM 'published' THEN
          RAISE EXCEPTION 'alias % must point to a published version of its own image', NEW.alias
            USING ERRCODE = 'check_violation', CONSTRAINT = 'alias_target_not_published';
        END IF;
        IF TG_OP = 'UPDATE' THEN
          IF NEW.id <> OLD.id OR NEW.image_id <> OLD.image_id OR NEW.alias <> OLD.alias THEN
            RAISE EXCEPTION 'the identity of alias % cannot change', OLD.alias
              USING ERRCODE = 'check_violation', CONSTRAINT = 'alias_identity';
          END IF;
          NEW.generation := OLD.generation + 1;
          NEW.updated_at := now();
        END IF;
        RETURN NEW;
      END $$`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    const [{ count }] = await q.query(
      `SELECT count(*)::int AS count FROM image_version WHERE state = 'withdrawn'`,
    );
    if (count > 0)
      throw new Error(`${count} versions are withdrawn; a withdrawal cannot be undone`);
    await q.query(`DROP INDEX ix_image_version_unpurged`);
    await q.query(`
      ALTER TABLE image_version
        DROP CONSTRAINT ck_image_version_purged,
        DROP CONSTRAINT ck_image_version_immediate,
        DROP CONSTRAINT ck_image_version_withdrawn,
        DROP CONSTRAINT ck_image_version_published_at,
        DROP CONSTRAINT ck_image_version_state,
        ADD CONSTRAINT ck_image_version_state CHECK (state IN ('draft', 'publishing', 'published')),
        ADD CONSTRAINT ck_image_version_published_at
          CHECK ((state = 'published') = (published_at IS NOT NULL)),
        DROP COLUMN purged_at,
        DROP COLUMN purge_after,
        DROP COLUMN withdrawn_immediate,
        DROP COLUMN withdrawn_reason,
        DROP COLUMN withdrawn_by,
        DROP COLUMN withdrawn_at`);
    // The guard functions as the previous migration left them (they create or replace only).
    const {
      VersionLifecycleErrors1764900000000,
    } = require('./1764900000000-version-lifecycle-errors.js');
    await new VersionLifecycleErrors1764900000000().up(q);
  }
}

module.exports = { Withdraw1764910000000 };
