// @ts-check
/**
 * Streams items keep the image's own serial (from metadata.yaml), the product version key the
 * Incus client reads as the creation date; rows written before it stay NULL and render with
 * their publish time. Items are served by their content address, looked up by either digest.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class StreamsSerial1764880000000 {
  name = 'StreamsSerial1764880000000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`ALTER TABLE streams_item ADD COLUMN serial text NULL`);
    await q.query(`ALTER TABLE streams_item ADD CONSTRAINT ck_streams_item_serial
      CHECK (serial IS NULL OR serial ~ '^[0-9]{8}[A-Za-z0-9_.:+-]{0,56}$')`);
    await q.query(`CREATE INDEX ix_streams_item_metadata_sha ON streams_item (metadata_sha256)`);
    await q.query(`CREATE INDEX ix_streams_item_root_sha ON streams_item (root_sha256)`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP INDEX ix_streams_item_root_sha');
    await q.query('DROP INDEX ix_streams_item_metadata_sha');
    await q.query('ALTER TABLE streams_item DROP COLUMN serial');
  }
}

module.exports = { StreamsSerial1764880000000 };
