// @ts-check
/**
 * The content-addressed store: upload sessions and their parts, trusted blobs (append-only), and
 * the garbage collector's marks and pending object deletions. See src/cas/README.md.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Cas1763860002000 {
  name = 'Cas1763860002000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE upload_session (
        id                   uuid        NOT NULL,
        expected_digest      text        NOT NULL,
        expected_size_bytes  bigint      NOT NULL,
        state                text        NOT NULL,
        media_type_hint      text        NULL,
        filename_hint        text        NULL,
        failure_code         text        NULL,
        failure_message      text        NULL,
        staging_token        text        NULL,
        staging_created      boolean     NOT NULL DEFAULT false,
        staging_cleared_at   timestamptz NULL,
        completed_parts      jsonb       NULL,
        assembled_at         timestamptz NULL,
        verify_owner         text        NULL,
        verify_attempt       integer     NOT NULL DEFAULT 0,
        verify_lease_until   timestamptz NULL,
        created_by           uuid        NULL,
        expires_at           timestamptz NOT NULL,
        completed_at         timestamptz NULL,
        ready_at             timestamptz NULL,
        created_at           timestamptz NOT NULL DEFAULT now(),
        updated_at           timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_upload_session PRIMARY KEY (id),
        CONSTRAINT fk_upload_session_created_by FOREIGN KEY (created_by)
          REFERENCES principal (id) ON DELETE SET NULL,
        CONSTRAINT ck_upload_session_state CHECK (state IN
          ('created', 'uploading', 'completed', 'verifying', 'ready', 'failed', 'aborted', 'expired')),
        CONSTRAINT ck_upload_session_expected_digest CHECK (expected_digest ~ '^sha256:[0-9a-f]{64}$'),
        CONSTRAINT ck_upload_session_expected_size CHECK (expected_size_bytes >= 0),
        CONSTRAINT ck_upload_session_media_type_hint CHECK (char_length(media_type_hint) <= 255),
        CONSTRAINT ck_upload_session_filename_hint CHECK (char_length(filename_hint) <= 255),
        CONSTRAINT ck_upload_session_parts_frozen CHECK (
          state NOT IN ('completed', 'verifying', 'failed') OR completed_parts IS NOT NULL),
        CONSTRAINT ck_upload_session_failure CHECK ((state = 'failed') = (failure_code IS NOT NULL))
      )`);
    await q.query(`
      CREATE TRIGGER trg_upload_session_updated_at BEFORE UPDATE ON upload_session
        FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);
    await q.query(
      'CREATE INDEX ix_upload_session_expected_digest ON upload_session (expected_digest, updated_at)',
    );
    await q.query(`
      CREATE INDEX ix_upload_session_open_expiry ON upload_session (expires_at)
        WHERE state IN ('created', 'uploading')`);
    await q.query(`
      CREATE INDEX ix_upload_session_verification ON upload_session (verify_lease_until)
        WHERE state IN ('completed', 'verifying')`);
    await q.query(`
      CREATE INDEX ix_upload_session_staging_left ON upload_session (updated_at)
        WHERE staging_cleared_at IS NULL AND state IN ('ready', 'failed', 'aborted', 'expired')`);

    await q.query(`
      CREATE TABLE upload_part (
        upload_id        uuid        NOT NULL,
        part_number      integer     NOT NULL,
        size_bytes       bigint      NOT NULL,
        etag             text        NOT NULL,
        hash_state       bytea       NULL,
        chain_prev_part  integer     NULL,
        chain_prev_etag  text        NULL,
        chain_end        bigint      NULL,
        received_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_upload_part PRIMARY KEY (upload_id, part_number),
        CONSTRAINT fk_upload_part_upload FOREIGN KEY (upload_id)
          REFERENCES upload_session (id) ON DELETE CASCADE,
        CONSTRAINT ck_upload_part_number CHECK (part_number BETWEEN 1 AND 10000),
        CONSTRAINT ck_upload_part_size CHECK (size_bytes BETWEEN 0 AND 5368709120),
        CONSTRAINT ck_upload_part_chain CHECK (
          (chain_prev_part IS NULL) = (chain_prev_etag IS NULL)
          AND (hash_state IS NULL) = (chain_end IS NULL)
          AND (hash_state IS NOT NULL OR chain_prev_part IS NULL))
      )`);

    // A trusted blob: its bytes sit at the key derived from its digest, verified by imgsrv.
    await q.query(`
      CREATE TABLE cas_blob (
        digest              text        NOT NULL,
        size_bytes          bigint      NOT NULL,
        object_key          text        NOT NULL,
        verified_upload_id  uuid        NULL,
        created_at          timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_cas_blob PRIMARY KEY (digest),
        CONSTRAINT ck_cas_blob_digest CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        CONSTRAINT ck_cas_blob_size CHECK (size_bytes >= 0),
        CONSTRAINT ck_cas_blob_object_key CHECK (object_key = 'cas/sha256/' || substr(digest, 8, 2)
          || '/' || substr(digest, 10, 2) || '/' || substr(digest, 8))
      )`);
    // GC marks: a blob found unreferenced. Citing the digest again removes the mark; only a blob
    // still marked (and still unreferenced) may be deleted.
    await q.query(`
      CREATE TABLE cas_blob_gc_mark (
        digest     text        NOT NULL,
        marked_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_cas_blob_gc_mark PRIMARY KEY (digest),
        CONSTRAINT fk_cas_blob_gc_mark_blob FOREIGN KEY (digest)
          REFERENCES cas_blob (digest) ON DELETE CASCADE
      )`);
    // Invariant 1: no UPDATE ever; DELETE only from the GC path, which declares itself with the
    // transaction-local setting imgsrv.cas_gc = 'delete' and deletes only marked blobs.
    await q.query(`
      CREATE FUNCTION cas_blob_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE'
           AND current_setting('imgsrv.cas_gc', true) = 'delete'
           AND EXISTS (SELECT 1 FROM cas_blob_gc_mark m WHERE m.digest = OLD.digest) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION '% on cas_blob is not allowed: trusted blobs are append-only (only the GC deletes a marked blob)', TG_OP
          USING ERRCODE = 'check_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER trg_cas_blob_append_only BEFORE UPDATE OR DELETE ON cas_blob
        FOR EACH ROW EXECUTE FUNCTION cas_blob_guard()`);
    await q.query(`
      CREATE TRIGGER trg_cas_blob_no_truncate BEFORE TRUNCATE ON cas_blob
        FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);

    // Invariant 7: bytes go after their row, once delete_after has passed. A claim (with its
    // lease) fences the deleter against a new upload of the same digest.
    await q.query(`
      CREATE TABLE cas_object_deletion (
        object_key     text        NOT NULL,
        digest         text        NOT NULL,
        delete_after   timestamptz NOT NULL,
        claimed_by     text        NULL,
        claimed_until  timestamptz NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_cas_object_deletion PRIMARY KEY (object_key),
        CONSTRAINT ck_cas_object_deletion_digest CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
        CONSTRAINT ck_cas_object_deletion_claim CHECK ((claimed_by IS NULL) = (claimed_until IS NULL))
      )`);
    await q.query('CREATE INDEX ix_cas_object_deletion_due ON cas_object_deletion (delete_after)');
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE cas_object_deletion');
    await q.query('DROP TABLE cas_blob_gc_mark');
    await q.query('DROP TABLE cas_blob');
    await q.query('DROP FUNCTION cas_blob_guard()');
    await q.query('DROP TABLE upload_part');
    await q.query('DROP TABLE upload_session');
  }
}

module.exports = { Cas1763860002000 };
