// @ts-check
/**
 * Retention policies, one per image: keep the newest `keep_latest` published versions and those
 * published within `keep_days`, and (with `keep_aliased`) every version an alias points at; the
 * workers withdraw the rest with reason `retention`. The newest published version is always kept.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Retention1764920000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE retention_policy (
        image_id uuid PRIMARY KEY REFERENCES image (id) ON DELETE CASCADE,
        keep_latest integer CHECK (keep_latest BETWEEN 1 AND 100000),
        keep_days integer CHECK (keep_days BETWEEN 1 AND 36500),
        keep_aliased boolean NOT NULL DEFAULT true,
        updated_by uuid,
        updated_at timestamptz NOT NULL DEFAULT now(),
        applied_at timestamptz,
        CONSTRAINT ck_retention_policy_keeps CHECK (keep_latest IS NOT NULL OR keep_days IS NOT NULL)
      )`);
    await q.query(
      `CREATE INDEX ix_image_version_retention ON image_version (image_id, published_at DESC)
        WHERE state = 'published'`,
    );
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP INDEX ix_image_version_retention');
    await q.query('DROP TABLE retention_policy');
  }
}

module.exports = { Retention1764920000000 };
