// @ts-check
/**
 * A remote's image scope: the image name patterns the principal who configured it may manage
 * remotes for (its grants holding remote.manage). A sync makes versions only of images inside it.
 * Remotes made before this column existed keep every image.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class MirrorScope1764970000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(
      `ALTER TABLE mirror_remote ADD COLUMN image_scope text[] NOT NULL DEFAULT ARRAY['*']::text[]
         CHECK (cardinality(image_scope) >= 1)`,
    );
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query(`ALTER TABLE mirror_remote DROP COLUMN image_scope`);
  }
}

module.exports = { MirrorScope1764970000000 };
