// @ts-check
/**
 * Mirroring upstream Simple Streams servers.
 *
 * - The `mirror-manager` role (holds remote.manage), allowed in role grants and OIDC rules.
 * - mirror_remote: an upstream server, what to copy from it and when. The password is kept sealed
 *   (AES-256-GCM under the configured credentials key, the remote's id as associated data); the
 *   API never answers it. `upstream_validators` keeps the documents' ETag / Last-Modified of the
 *   last complete sync, for conditional reads.
 * - mirror_sync: one sync job: state, progress, lease (owner, attempt, expiry) like a publish step,
 *   and a cancel request. At most one queued or running sync per remote (partial unique index).
 * - mirror_sync_item: what a sync did with each upstream file and version: outcome, bytes, error,
 *   and the upload session an interrupted file continues in.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

const ROLES = `('reader', 'content-writer', 'release-manager', 'auth-manager', 'mirror-manager')`;
const OLD_ROLES = `('reader', 'content-writer', 'release-manager', 'auth-manager')`;

/** @implements {MigrationInterface} */
class Mirror1764960000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`ALTER TABLE role_grant DROP CONSTRAINT ck_role_grant_role`);
    await q.query(
      `ALTER TABLE role_grant ADD CONSTRAINT ck_role_grant_role CHECK (role_id IN ${ROLES})`,
    );
    await q.query(`ALTER TABLE oidc_provisioning_rule DROP CONSTRAINT ck_oidc_rule_role`);
    await q.query(
      `ALTER TABLE oidc_provisioning_rule ADD CONSTRAINT ck_oidc_rule_role CHECK (role_id IN ${ROLES})`,
    );
    await q.query(`
      CREATE TABLE mirror_remote (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
        url text NOT NULL CHECK (url ~ '^https?://'),
        ca_pem text,
        username text,
        password_sealed text,
        filters jsonb NOT NULL DEFAULT '{}'::jsonb,
        image_name_template text NOT NULL,
        schedule text,
        keep_latest integer CHECK (keep_latest IS NULL OR keep_latest BETWEEN 1 AND 1000),
        concurrency integer NOT NULL DEFAULT 2 CHECK (concurrency BETWEEN 1 AND 16),
        bandwidth_limit_bps bigint CHECK (bandwidth_limit_bps IS NULL OR bandwidth_limit_bps > 0),
        next_sync_at timestamptz,
        last_success_at timestamptz,
        upstream_validators jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_by uuid REFERENCES principal(id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_mirror_remote_password CHECK (password_sealed IS NULL OR username IS NOT NULL)
      )`);
    await q.query(`
      CREATE TABLE mirror_sync (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        remote_id uuid NOT NULL REFERENCES mirror_remote(id) ON DELETE CASCADE,
        state text NOT NULL DEFAULT 'queued'
          CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule')),
        requested_by uuid REFERENCES principal(id) ON DELETE SET NULL,
        items_total integer NOT NULL DEFAULT 0,
        items_done integer NOT NULL DEFAULT 0,
        items_failed integer NOT NULL DEFAULT 0,
        bytes_total bigint NOT NULL DEFAULT 0,
        bytes_fetched bigint NOT NULL DEFAULT 0,
        versions_published integer NOT NULL DEFAULT 0,
        aliases_moved integer NOT NULL DEFAULT 0,
        error text,
        attempt integer NOT NULL DEFAULT 0,
        lease_owner text,
        lease_expires_at timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        heartbeat_at timestamptz,
        finished_at timestamptz,
        CONSTRAINT ck_mirror_sync_finished CHECK
          ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE UNIQUE INDEX uq_mirror_sync_live ON mirror_sync (remote_id) WHERE state IN ('queued', 'running')`,
    );
    await q.query(`CREATE INDEX ix_mirror_sync_remote ON mirror_sync (remote_id, created_at DESC)`);
    await q.query(`
      CREATE TABLE mirror_sync_item (
        sync_id uuid NOT NULL REFERENCES mirror_sync(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('file', 'version')),
        key text NOT NULL,
        image text,
        version text,
        digest text,
        size_bytes bigint,
        outcome text NOT NULL DEFAULT 'pending'
          CHECK (outcome IN ('pending', 'present', 'fetched', 'published', 'unchanged', 'failed', 'skipped')),
        bytes_fetched bigint NOT NULL DEFAULT 0,
        upload_id uuid,
        attempts integer NOT NULL DEFAULT 0,
        error text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (sync_id, kind, key)
      )`);
    await q.query(
      `CREATE INDEX ix_mirror_sync_item_upload ON mirror_sync_item (digest) WHERE upload_id IS NOT NULL`,
    );
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query(`DROP TABLE mirror_sync_item`);
    await q.query(`DROP TABLE mirror_sync`);
    await q.query(`DROP TABLE mirror_remote`);
    await q.query(`DELETE FROM role_grant WHERE role_id = 'mirror-manager'`);
    await q.query(`DELETE FROM oidc_provisioning_rule WHERE role_id = 'mirror-manager'`);
    await q.query(`ALTER TABLE role_grant DROP CONSTRAINT ck_role_grant_role`);
    await q.query(
      `ALTER TABLE role_grant ADD CONSTRAINT ck_role_grant_role CHECK (role_id IN ${OLD_ROLES})`,
    );
    await q.query(`ALTER TABLE oidc_provisioning_rule DROP CONSTRAINT ck_oidc_rule_role`);
    await q.query(
      `ALTER TABLE oidc_provisioning_rule ADD CONSTRAINT ck_oidc_rule_role CHECK (role_id IN ${OLD_ROLES})`,
    );
  }
}

module.exports = { Mirror1764960000000 };
