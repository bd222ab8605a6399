// @ts-check
/**
 * Incus combined fingerprints already computed: sha256(metadata tarball ‖ root image) for a pair of
 * trusted blobs. The value is a function of the two digests alone, so a row never goes stale and
 * needs no reference to the blobs (a blob uploaded again has the same bytes). imgsrv writes a row
 * only from bytes it hashed itself: the publish step that reads both blobs, or a mirror transfer
 * that hashed the root as it arrived after the metadata it follows. A publish of the same pair
 * later (a repeated daily build, a mirrored version) then need not read the root again.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class IncusFingerprint1764980000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(
      `CREATE TABLE incus_fingerprint (
        metadata_digest text NOT NULL,
        root_digest text NOT NULL,
        fingerprint text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_incus_fingerprint PRIMARY KEY (metadata_digest, root_digest),
        CONSTRAINT ck_incus_fingerprint_metadata_digest
          CHECK (metadata_digest ~ '^sha256:[0-9a-f]{64}$'),
        CONSTRAINT ck_incus_fingerprint_root_digest CHECK (root_digest ~ '^sha256:[0-9a-f]{64}$'),
        CONSTRAINT ck_incus_fingerprint_fingerprint CHECK (fingerprint ~ '^[0-9a-f]{64}$')
      )`,
    );
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query(`DROP TABLE incus_fingerprint`);
  }
}

module.exports = { IncusFingerprint1764980000000 };
