// @ts-check
/**
 * Principals, scoped role grants, API tokens, OIDC provisioning rules, and the append-only audit
 * log.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

const ROLES = `('reader', 'content-writer', 'release-manager', 'auth-manager')`;

/** @implements {MigrationInterface} */
class AuthAudit1763860001000 {
  name = 'AuthAudit1763860001000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE principal (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        kind text NOT NULL,
        display_name text NOT NULL,
        attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
        oidc_issuer text NULL,
        oidc_subject text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_principal PRIMARY KEY (id),
        CONSTRAINT ck_principal_kind CHECK (kind IN ('user', 'service')),
        CONSTRAINT ck_principal_display_name CHECK (char_length(display_name) BETWEEN 1 AND 200),
        CONSTRAINT ck_principal_attributes CHECK (jsonb_typeof(attributes) = 'object'),
        CONSTRAINT ck_principal_oidc CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL)),
        CONSTRAINT uq_principal_oidc UNIQUE (oidc_issuer, oidc_subject)
      )`);
    await q.query(`CREATE INDEX ix_principal_created ON principal (created_at, id)`);
    await q.query(`CREATE TRIGGER trg_principal_updated_at BEFORE UPDATE ON principal
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);

    await q.query(`
      CREATE TABLE role_grant (
        principal_id uuid NOT NULL,
        role_id text NOT NULL,
        images text[] NOT NULL DEFAULT ARRAY['*'],
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_role_grant PRIMARY KEY (principal_id, role_id),
        CONSTRAINT fk_role_grant_principal FOREIGN KEY (principal_id) REFERENCES principal (id) ON DELETE CASCADE,
        CONSTRAINT ck_role_grant_role CHECK (role_id IN ${ROLES}),
        CONSTRAINT ck_role_grant_images CHECK (cardinality(images) BETWEEN 1 AND 100)
      )`);
    await q.query(`CREATE INDEX ix_role_grant_role ON role_grant (role_id)`);
    await q.query(`CREATE TRIGGER trg_role_grant_updated_at BEFORE UPDATE ON role_grant
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);

    await q.query(`
      CREATE TABLE api_token (
        id text NOT NULL,
        principal_id uuid NOT NULL,
        name text NULL,
        secret_sha256 bytea NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NULL,
        last_used_at timestamptz NULL,
        created_by uuid NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_api_token PRIMARY KEY (id),
        CONSTRAINT fk_api_token_principal FOREIGN KEY (principal_id) REFERENCES principal (id) ON DELETE CASCADE,
        CONSTRAINT fk_api_token_created_by FOREIGN KEY (created_by) REFERENCES principal (id) ON DELETE SET NULL,
        CONSTRAINT ck_api_token_id CHECK (id ~ '^[a-z0-9]{16}$'),
        CONSTRAINT ck_api_token_name CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 200),
        CONSTRAINT ck_api_token_secret CHECK (octet_length(secret_sha256) = 32),
        CONSTRAINT ck_api_token_expiry CHECK (expires_at > created_at)
      )`);
    await q.query(
      `CREATE INDEX ix_api_token_principal ON api_token (principal_id, created_at, id)`,
    );

    await q.query(`
      CREATE TABLE oidc_provisioning_rule (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        display_name text NOT NULL,
        issuer_url text NOT NULL,
        audience text NOT NULL,
        claims jsonb NOT NULL DEFAULT '{}'::jsonb,
        role_id text NOT NULL,
        images text[] NOT NULL DEFAULT ARRAY['*'],
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_oidc_provisioning_rule PRIMARY KEY (id),
        CONSTRAINT ck_oidc_rule_role CHECK (role_id IN ${ROLES}),
        CONSTRAINT ck_oidc_rule_claims CHECK (jsonb_typeof(claims) = 'object'),
        CONSTRAINT ck_oidc_rule_images CHECK (cardinality(images) BETWEEN 1 AND 100)
      )`);
    await q.query(
      `CREATE INDEX ix_oidc_rule_issuer ON oidc_provisioning_rule (issuer_url) WHERE enabled`,
    );
    await q.query(`CREATE TRIGGER trg_oidc_rule_updated_at BEFORE UPDATE ON oidc_provisioning_rule
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);

    // The audit log keeps history even of principals that later disappear: no foreign keys.
    await q.query(`
      CREATE TABLE audit_event (
        id bigint GENERATED ALWAYS AS IDENTITY,
        occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        principal_id uuid NULL,
        principal_name text NULL,
        action text NOT NULL,
        target_type text NOT NULL,
        target_id text NULL,
        image_name text NULL,
        request_id text NULL,
        detail jsonb NOT NULL DEFAULT '{}'::jsonb,
        CONSTRAINT pk_audit_event PRIMARY KEY (id),
        CONSTRAINT ck_audit_event_detail CHECK (jsonb_typeof(detail) = 'object')
      )`);
    await q.query(`CREATE INDEX ix_audit_event_action ON audit_event (action, id)`);
    await q.query(
      `CREATE INDEX ix_audit_event_image ON audit_event (image_name, id) WHERE image_name IS NOT NULL`,
    );
    await q.query(
      `CREATE INDEX ix_audit_event_principal ON audit_event (principal_id, id) WHERE principal_id IS NOT NULL`,
    );
    await q.query(`CREATE TRIGGER trg_audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
      FOR EACH ROW EXECUTE FUNCTION reject_change()`);
    await q.query(`CREATE TRIGGER trg_audit_event_no_truncate BEFORE TRUNCATE ON audit_event
      FOR EACH STATEMENT EXECUTE FUNCTION reject_change()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE audit_event');
    await q.query('DROP TABLE oidc_provisioning_rule');
    await q.query('DROP TABLE api_token');
    await q.query('DROP TABLE role_grant');
    await q.query('DROP TABLE principal');
  }
}

module.exports = { AuthAudit1763860001000 };
