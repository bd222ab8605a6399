// @ts-check
/**
 * Deleting an image: its versions must all be drafts or withdrawn. Drafts were always deletable;
 * a withdrawn version may now be deleted too, but only inside the transaction that deletes its
 * image, which sets `imgsrv.deleting_image` to the image's id (SET LOCAL). Any other delete of a
 * withdrawn version is still refused (image_version_delete_not_draft). The rest of the guard is
 * as the withdrawal migration left it.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class ImageDelete1764930000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
CREATE OR REPLACE FUNCTION image_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        kept image_version;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          -- A withdrawn version goes only with its image (DELETE /v1/images/{name}), which names
          -- the image it deletes for its transaction.
          IF OLD.state = 'withdrawn'
             AND current_setting('imgsrv.deleting_image', true) = OLD.image_id::text THEN
            RETURN OLD;
          END IF;
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
  }

  /** @param {QueryRunner} q */
  async down(q) {
    // The guard as the withdrawal migration left it: withdrawn versions are never deleted.
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
  }
}

module.exports = { ImageDelete1764930000000 };
