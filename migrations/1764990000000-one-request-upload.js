// @ts-check
/**
 * A whole blob in one request (PUT /v1/blobs/{digest}) ends with one call instead of a
 * transaction of seven statements: each statement is a round trip to the database, and on a small
 * blob the round trips were most of the request's time. The function does what a verifier does
 * once the object sits verified at its key, in the same order and under the same digest lock:
 * give way to a deletion in flight, take the session out of the request's claim (fenced by owner
 * and attempt), cancel a scheduled deletion, trust the blob, lift a GC mark, record the audit
 * event. It answers 'ready', 'deleting' (a deleter holds the object: a worker retries later) or
 * 'lost' (the claim lapsed and a worker holds the session now); only 'ready' changes anything.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class OneRequestUpload1764990000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE FUNCTION cas_trust_verified_upload(
        p_upload_id uuid, p_owner text, p_attempt integer, p_digest text, p_size_bytes bigint,
        p_object_key text, p_principal_id uuid, p_principal_name text, p_request_id text,
        p_detail jsonb
      ) RETURNS text LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended('imgsrv.cas:' || p_digest, 0));
        IF EXISTS (SELECT 1 FROM cas_object_deletion
                    WHERE object_key = p_object_key
                      AND claimed_until IS NOT NULL AND claimed_until > now()) THEN
          RETURN 'deleting';
        END IF;
        UPDATE upload_session
           SET state = 'ready', ready_at = now(), verify_lease_until = NULL,
               failure_message = NULL, staging_cleared_at = now()
         WHERE id = p_upload_id AND verify_owner = p_owner AND verify_attempt = p_attempt
           AND state = 'verifying';
        IF NOT FOUND THEN
          RETURN 'lost';
        END IF;
        DELETE FROM cas_object_deletion WHERE object_key = p_object_key;
        INSERT INTO cas_blob (digest, size_bytes, object_key, verified_upload_id)
        VALUES (p_digest, p_size_bytes, p_object_key, p_upload_id)
        ON CONFLICT (digest) DO NOTHING;
        DELETE FROM cas_blob_gc_mark WHERE digest = p_digest;
        INSERT INTO audit_event (principal_id, principal_name, action, target_type, target_id,
                                 image_name, request_id, detail)
        VALUES (p_principal_id, p_principal_name, 'upload.complete', 'upload_session',
                p_upload_id::text, NULL, p_request_id, p_detail);
        RETURN 'ready';
      END $$`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query(
      'DROP FUNCTION cas_trust_verified_upload(uuid, text, integer, text, bigint, text, uuid, text, text, jsonb)',
    );
  }
}

module.exports = { OneRequestUpload1764990000000 };
