// @ts-check
/**
 * Images, versions, artifacts and attachments. Immutability lives here, not only in services:
 * version state moves only forward (draft → publishing → published; publishing → draft is the
 * explicit cancel), published versions are frozen, identities never change, and a manifest
 * (artifacts, attachments) changes only while its version is a draft. Violations raise
 * check_violation (23514), which the API answers with 409.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

const NAME = `'^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$'`;
const DIGEST = `'^sha256:[0-9a-f]{64}$'`;
const MEDIA_TYPE = `'^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$'`;

/** @implements {MigrationInterface} */
class Catalog1763860003000 {
  name = 'Catalog1763860003000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE image (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        name text NOT NULL,
        display_name text NULL,
        description text NULL,
        created_by uuid NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_image PRIMARY KEY (id),
        CONSTRAINT uq_image_name UNIQUE (name),
        CONSTRAINT ck_image_name CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
        CONSTRAINT ck_image_display_name CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 200),
        CONSTRAINT ck_image_description CHECK (description IS NULL OR char_length(description) <= 10000)
      )`);
    await q.query(`
      CREATE FUNCTION image_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id <> OLD.id OR NEW.name <> OLD.name OR NEW.created_at <> OLD.created_at
           OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
          RAISE EXCEPTION 'the identity of image % cannot change', OLD.name USING ERRCODE = 'check_violation';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
      END $$`);
    await q.query(
      `CREATE TRIGGER trg_image_guard BEFORE UPDATE ON image FOR EACH ROW EXECUTE FUNCTION image_guard()`,
    );

    await q.query(`
      CREATE TABLE image_version (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        image_id uuid NOT NULL,
        version text NOT NULL,
        state text NOT NULL DEFAULT 'draft',
        published_at timestamptz NULL,
        created_by uuid NULL,
        published_by uuid NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_image_version PRIMARY KEY (id),
        CONSTRAINT fk_image_version_image FOREIGN KEY (image_id) REFERENCES image (id) ON DELETE RESTRICT,
        CONSTRAINT uq_image_version UNIQUE (image_id, version),
        CONSTRAINT ck_image_version_version CHECK (version ~ '^[A-Za-z0-9][A-Za-z0-9._+:-]{0,127}$'),
        CONSTRAINT ck_image_version_state CHECK (state IN ('draft', 'publishing', 'published')),
        CONSTRAINT ck_image_version_published_at CHECK ((state = 'published') = (published_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX ix_image_version_published ON image_version (image_id) WHERE state = 'published'`,
    );
    await q.query(`
      CREATE FUNCTION image_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.state <> 'draft' THEN
            RAISE EXCEPTION 'version % is %, only drafts can be deleted', OLD.version, OLD.state
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN OLD;
        END IF;
        IF OLD.state = 'published' THEN
          RAISE EXCEPTION 'version % is published and frozen', OLD.version USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.id <> OLD.id OR NEW.image_id <> OLD.image_id OR NEW.version <> OLD.version
           OR NEW.created_at <> OLD.created_at OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
          RAISE EXCEPTION 'the identity of version % cannot change', OLD.version USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.state <> OLD.state AND NOT (
             (OLD.state = 'draft' AND NEW.state = 'publishing')
          OR (OLD.state = 'publishing' AND NEW.state = 'published')
          OR (OLD.state = 'publishing' AND NEW.state = 'draft')) THEN
          RAISE EXCEPTION 'version % cannot move from % to %', OLD.version, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
        END IF;
        NEW.updated_at := now();
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER trg_image_version_guard BEFORE UPDATE OR DELETE ON image_version
      FOR EACH ROW EXECUTE FUNCTION image_version_guard()`);

    await q.query(`
      CREATE TABLE artifact (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        version_id uuid NOT NULL,
        variant text NOT NULL DEFAULT 'default',
        operating_system text NOT NULL,
        architecture text NOT NULL,
        format text NOT NULL,
        primary_blob_digest text NOT NULL,
        primary_blob_size_bytes bigint NOT NULL,
        primary_media_type text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_artifact PRIMARY KEY (id),
        CONSTRAINT fk_artifact_version FOREIGN KEY (version_id) REFERENCES image_version (id) ON DELETE CASCADE,
        CONSTRAINT uq_artifact_identity UNIQUE (version_id, variant, operating_system, architecture, format),
        CONSTRAINT ck_artifact_variant CHECK (variant ~ ${NAME}),
        CONSTRAINT ck_artifact_operating_system CHECK (operating_system ~ ${NAME}),
        CONSTRAINT ck_artifact_architecture CHECK (architecture ~ ${NAME}),
        CONSTRAINT ck_artifact_format CHECK (format IN ('raw', 'raw.gz', 'qcow2', 'squashfs')),
        CONSTRAINT ck_artifact_digest CHECK (primary_blob_digest ~ ${DIGEST}),
        CONSTRAINT ck_artifact_size CHECK (primary_blob_size_bytes >= 0),
        CONSTRAINT ck_artifact_media_type CHECK (primary_media_type ~ ${MEDIA_TYPE})
      )`);
    await q.query(`CREATE INDEX ix_artifact_digest ON artifact (primary_blob_digest)`);

    await q.query(`
      CREATE TABLE attachment (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artifact_id uuid NOT NULL,
        name text NOT NULL,
        media_type text NOT NULL,
        blob_digest text NOT NULL,
        blob_size_bytes bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_attachment PRIMARY KEY (id),
        CONSTRAINT fk_attachment_artifact FOREIGN KEY (artifact_id) REFERENCES artifact (id) ON DELETE CASCADE,
        CONSTRAINT uq_attachment_name UNIQUE (artifact_id, name),
        CONSTRAINT ck_attachment_name CHECK (name ~ ${NAME}),
        CONSTRAINT ck_attachment_digest CHECK (blob_digest ~ ${DIGEST}),
        CONSTRAINT ck_attachment_size CHECK (blob_size_bytes >= 0),
        CONSTRAINT ck_attachment_media_type CHECK (media_type ~ ${MEDIA_TYPE})
      )`);
    await q.query(`CREATE INDEX ix_attachment_digest ON attachment (blob_digest)`);

    // A manifest row may be added or removed only while its version is a draft, and never
    // changed in place. A missing version means the row goes with its draft (ON DELETE CASCADE).
    await q.query(`
      CREATE FUNCTION manifest_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_state text;
        v_version_id uuid;
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          RAISE EXCEPTION '% rows never change; delete and add instead', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
        END IF;
        IF TG_TABLE_NAME = 'artifact' THEN
          v_version_id := CASE WHEN TG_OP = 'DELETE' THEN OLD.version_id ELSE NEW.version_id END;
        ELSE
          SELECT a.version_id INTO v_version_id FROM artifact a
           WHERE a.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.artifact_id ELSE NEW.artifact_id END;
        END IF;
        SELECT state INTO v_state FROM image_version WHERE id = v_version_id FOR SHARE;
        IF v_state IS NOT NULL AND v_state <> 'draft' THEN
          RAISE EXCEPTION 'the manifest of a % version cannot change', v_state USING ERRCODE = 'check_violation';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
      END $$`);
    await q.query(`CREATE TRIGGER trg_artifact_guard BEFORE INSERT OR UPDATE OR DELETE ON artifact
      FOR EACH ROW EXECUTE FUNCTION manifest_guard()`);
    await q.query(`CREATE TRIGGER trg_attachment_guard BEFORE INSERT OR UPDATE OR DELETE ON attachment
      FOR EACH ROW EXECUTE FUNCTION manifest_guard()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE attachment');
    await q.query('DROP TABLE artifact');
    await q.query('DROP FUNCTION manifest_guard()');
    await q.query('DROP TABLE image_version');
    await q.query('DROP FUNCTION image_version_guard()');
    await q.query('DROP TABLE image');
    await q.query('DROP FUNCTION image_guard()');
  }
}

module.exports = { Catalog1763860003000 };
