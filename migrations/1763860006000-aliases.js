// @ts-check
/**
 * Aliases: named, movable pointers from an image to one of its published versions. A trigger
 * keeps every alias on a published version of its own image.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Aliases1763860006000 {
  name = 'Aliases1763860006000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE alias (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        image_id uuid NOT NULL,
        alias text NOT NULL,
        version_id uuid NOT NULL,
        generation integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_alias PRIMARY KEY (id),
        CONSTRAINT uq_alias_image_name UNIQUE (image_id, alias),
        CONSTRAINT fk_alias_image FOREIGN KEY (image_id) REFERENCES image (id) ON DELETE CASCADE,
        CONSTRAINT fk_alias_version FOREIGN KEY (version_id) REFERENCES image_version (id) ON DELETE RESTRICT,
        CONSTRAINT ck_alias_name CHECK (alias ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
      )`);
    await q.query(`CREATE INDEX ix_alias_version ON alias (version_id)`);
    await q.query(`
      CREATE FUNCTION alias_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        v_image uuid;
        v_state text;
      BEGIN
        SELECT image_id, state INTO v_image, v_state FROM image_version WHERE id = NEW.version_id;
        IF v_image IS DISTINCT FROM NEW.image_id OR v_state IS DISTINCT FROM 'published' THEN
          RAISE EXCEPTION 'alias % must point to a published version of its own image', NEW.alias
            USING ERRCODE = 'check_violation';
        END IF;
        IF TG_OP = 'UPDATE' THEN
          IF NEW.id <> OLD.id OR NEW.image_id <> OLD.image_id OR NEW.alias <> OLD.alias THEN
            RAISE EXCEPTION 'the identity of alias % cannot change', OLD.alias USING ERRCODE = 'check_violation';
          END IF;
          NEW.generation := OLD.generation + 1;
          NEW.updated_at := now();
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER trg_alias_guard BEFORE INSERT OR UPDATE ON alias
      FOR EACH ROW EXECUTE FUNCTION alias_guard()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE alias');
    await q.query('DROP FUNCTION alias_guard()');
  }
}

module.exports = { Aliases1763860006000 };
