// @ts-check
/**
 * Each refusal of the catalog's guard triggers names itself: the same checks as before, raised
 * with a CONSTRAINT name of their own, so the application maps a refusal by what was refused
 * (src/catalog/lifecycle-refusals.ts) instead of reading every check violation as "not a draft".
 * The allowed version transitions are unchanged: draft → publishing → published, and
 * publishing → draft.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class VersionLifecycleErrors1764900000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE OR REPLACE FUNCTION image_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id <> OLD.id OR NEW.name <> OLD.name OR NEW.created_at <> OLD.created_at
           OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
          RAISE EXCEPTION 'the identity of image % cannot change', OLD.name
            USING ERRCODE = 'check_violation', CONSTRAINT = 'image_identity';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION image_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.state <> 'draft' THEN
            RAISE EXCEPTION 'version % is %, only drafts can be deleted', OLD.version, OLD.state
              USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_delete_not_draft';
          END IF;
          RETURN OLD;
        END IF;
        IF OLD.state = 'published' THEN
          RAISE EXCEPTION 'version % is published and frozen', OLD.version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'image_version_frozen';
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
      CREATE OR REPLACE FUNCTION manifest_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_state text;
        v_version_id uuid;
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          RAISE EXCEPTION '% rows never change; delete and add instead', TG_TABLE_NAME
            USING ERRCODE = 'check_violation', CONSTRAINT = 'manifest_row_immutable';
        END IF;
        IF TG_TABLE_NAME = 'artifact' THEN
          v_version_id := CASE WHEN TG_OP = 'DELETE' THEN OLD.version_id ELSE NEW.version_id END;
        ELSE
          SELECT a.version_id INTO v_version_id FROM artifact a
           WHERE a.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.artifact_id ELSE NEW.artifact_id END;
        END IF;
        SELECT state INTO v_state FROM image_version WHERE id = v_version_id FOR SHARE;
        IF v_state IS NOT NULL AND v_state <> 'draft' THEN
          RAISE EXCEPTION 'the manifest of a % version cannot change', v_state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'manifest_frozen';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION alias_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_image uuid;
        v_state text;
      BEGIN
        SELECT image_id, state INTO v_image, v_state FROM image_version WHERE id = NEW.version_id;
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

  async down() {
    // The functions before this migration differ only in the CONSTRAINT names of their errors;
    // keeping the named ones is harmless to the code of either version.
  }
}

module.exports = { VersionLifecycleErrors1764900000000 };
