// @ts-check
/**
 * Provenance: the public keys that sign publication records and checkpoints, and the transparency
 * log (RFC 6962 Merkle tree) of signed records.
 *
 * - provenance_key: every Ed25519 public key that has signed (key_id = hex SHA-256 of the SPKI
 *   DER). A key is never deleted and never changes, except that it can be retired once.
 * - transparency_log_entry: the log's leaves in order (entry = the Rekor `dsse` body committing to
 *   the signed envelope, which is kept beside it). Append-only: no UPDATE, DELETE or TRUNCATE.
 * - transparency_log_head: one row, the tree's size, root and compact range (the roots of its
 *   perfect subtrees, largest first), locked by every append so appends are serialised; its size
 *   only grows, by the entries appended with it.
 * - transparency_checkpoint: every signed checkpoint (C2SP tlog-checkpoint note), append-only.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Provenance1764950000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE provenance_key (
        key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{64}$'),
        algorithm text NOT NULL CHECK (algorithm = 'ed25519'),
        public_key_pem text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      )`);
    await q.query(`
      CREATE FUNCTION provenance_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL
           AND NEW.key_id = OLD.key_id AND NEW.algorithm = OLD.algorithm
           AND NEW.public_key_pem = OLD.public_key_pem AND NEW.created_at = OLD.created_at THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION '% on provenance_key is not allowed: keys are kept forever and only retired once', TG_OP
          USING ERRCODE = 'check_violation', CONSTRAINT = 'provenance_key_append_only';
      END $$`);
    await q.query(`CREATE TRIGGER trg_provenance_key_guard BEFORE UPDATE OR DELETE ON provenance_key
      FOR EACH ROW EXECUTE FUNCTION provenance_key_guard()`);
    await q.query(`CREATE TRIGGER trg_provenance_key_no_truncate BEFORE TRUNCATE ON provenance_key
      FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);

    // No foreign key to image_version: the log outlives what it describes.
    await q.query(`
      CREATE TABLE transparency_log_entry (
        log_index bigint PRIMARY KEY CHECK (log_index >= 0),
        kind text NOT NULL CHECK (kind IN ('publication', 'withdrawal')),
        image_version_id uuid NOT NULL,
        image_name text NOT NULL,
        version text NOT NULL,
        entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65535),
        envelope text NOT NULL,
        key_id text NOT NULL REFERENCES provenance_key (key_id),
        integrated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_transparency_log_entry_version UNIQUE (image_version_id, kind)
      )`);
    // Indices are dense: each entry takes the next one.
    await q.query(`
      CREATE FUNCTION transparency_log_entry_next() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.log_index <> (SELECT coalesce(max(log_index) + 1, 0) FROM transparency_log_entry) THEN
          RAISE EXCEPTION 'log index % is not the next one', NEW.log_index
            USING ERRCODE = 'check_violation', CONSTRAINT = 'transparency_log_entry_dense';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER trg_transparency_log_entry_next
      BEFORE INSERT ON transparency_log_entry
      FOR EACH ROW EXECUTE FUNCTION transparency_log_entry_next()`);
    await q.query(`CREATE TRIGGER trg_transparency_log_entry_append_only
      BEFORE UPDATE OR DELETE ON transparency_log_entry
      FOR EACH ROW EXECUTE FUNCTION reject_change()`);
    await q.query(`CREATE TRIGGER trg_transparency_log_entry_no_truncate
      BEFORE TRUNCATE ON transparency_log_entry
      FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);

    await q.query(`
      CREATE TABLE transparency_log_head (
        id smallint PRIMARY KEY CHECK (id = 1),
        tree_size bigint NOT NULL CHECK (tree_size >= 0),
        root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
        frontier bytea[] NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      INSERT INTO transparency_log_head (id, tree_size, root_hash, frontier)
      VALUES (1, 0, sha256(''::bytea), '{}')`);
    await q.query(`
      CREATE FUNCTION transparency_log_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.tree_size > OLD.tree_size
           AND NEW.tree_size = (SELECT coalesce(max(log_index) + 1, 0) FROM transparency_log_entry) THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the transparency log head only grows with the entries appended'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'transparency_log_head_grows';
      END $$`);
    await q.query(`CREATE TRIGGER trg_transparency_log_head_guard
      BEFORE UPDATE OR DELETE ON transparency_log_head
      FOR EACH ROW EXECUTE FUNCTION transparency_log_head_guard()`);
    await q.query(`CREATE TRIGGER trg_transparency_log_head_no_truncate
      BEFORE TRUNCATE ON transparency_log_head
      FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);

    await q.query(`
      CREATE TABLE transparency_checkpoint (
        tree_size bigint PRIMARY KEY CHECK (tree_size >= 0),
        root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
        note text NOT NULL,
        key_id text NOT NULL REFERENCES provenance_key (key_id),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE TRIGGER trg_transparency_checkpoint_append_only
      BEFORE UPDATE OR DELETE ON transparency_checkpoint
      FOR EACH ROW EXECUTE FUNCTION reject_change()`);
    await q.query(`CREATE TRIGGER trg_transparency_checkpoint_no_truncate
      BEFORE TRUNCATE ON transparency_checkpoint
      FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE transparency_checkpoint');
    await q.query('DROP TABLE transparency_log_head');
    await q.query('DROP FUNCTION transparency_log_head_guard');
    await q.query('DROP TABLE transparency_log_entry');
    await q.query('DROP FUNCTION transparency_log_entry_next');
    await q.query('DROP TABLE provenance_key');
    await q.query('DROP FUNCTION provenance_key_guard');
  }
}

module.exports = { Provenance1764950000000 };
