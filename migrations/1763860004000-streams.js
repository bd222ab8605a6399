// @ts-check
/**
 * The Incus Simple Streams projection: one row per published, eligible artifact (written by the
 * publish pipeline's incus_index step, replaced per version), and the catalog revision that
 * versions every rendering of the documents.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Streams1763860004000 {
  name = 'Streams1763860004000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE streams_item (
        version_id uuid NOT NULL,
        artifact_id uuid NOT NULL,
        product_key text NOT NULL,
        image_type text NOT NULL,
        architecture text NOT NULL,
        variant text NOT NULL,
        operating_system text NOT NULL,
        release text NOT NULL,
        release_title text NOT NULL,
        description text NULL,
        combined_sha256 text NOT NULL,
        metadata_path text NOT NULL,
        metadata_sha256 text NOT NULL,
        metadata_size_bytes bigint NOT NULL,
        root_ftype text NOT NULL,
        root_path text NOT NULL,
        root_sha256 text NOT NULL,
        root_size_bytes bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_streams_item PRIMARY KEY (version_id, artifact_id),
        CONSTRAINT fk_streams_item_version FOREIGN KEY (version_id) REFERENCES image_version (id) ON DELETE CASCADE,
        CONSTRAINT fk_streams_item_artifact FOREIGN KEY (artifact_id) REFERENCES artifact (id) ON DELETE CASCADE,
        CONSTRAINT uq_streams_item_product UNIQUE (product_key, image_type),
        CONSTRAINT ck_streams_item_type CHECK (image_type IN ('container', 'virtual-machine')),
        CONSTRAINT ck_streams_item_ftype CHECK (root_ftype IN ('squashfs', 'disk-kvm.img')),
        CONSTRAINT ck_streams_item_combined CHECK (combined_sha256 ~ '^[0-9a-f]{64}$'),
        CONSTRAINT ck_streams_item_metadata_sha CHECK (metadata_sha256 ~ '^[0-9a-f]{64}$'),
        CONSTRAINT ck_streams_item_root_sha CHECK (root_sha256 ~ '^[0-9a-f]{64}$')
      )`);
    await q.query(`CREATE INDEX ix_streams_item_combined ON streams_item (combined_sha256)`);

    await q.query(`
      CREATE TABLE streams_revision (
        id smallint NOT NULL DEFAULT 1,
        revision bigint NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_streams_revision PRIMARY KEY (id),
        CONSTRAINT ck_streams_revision_single CHECK (id = 1)
      )`);
    await q.query(`INSERT INTO streams_revision (id, revision) VALUES (1, 1)`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE streams_revision');
    await q.query('DROP TABLE streams_item');
  }
}

module.exports = { Streams1763860004000 };
