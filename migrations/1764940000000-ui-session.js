// @ts-check
/**
 * Web catalog sessions: a signed-in browser holds a random session id in an HttpOnly cookie; the
 * server keeps only its SHA-256 and the API token the visitor signed in with, so revoking or
 * deleting the token ends the session, and signing out deletes the row.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class UiSession1764940000000 {
  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE ui_session (
        id_sha256 bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
        token_id text NOT NULL REFERENCES api_token (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        CONSTRAINT ck_ui_session_expiry CHECK (expires_at > created_at)
      )`);
    await q.query('CREATE INDEX ix_ui_session_token ON ui_session (token_id)');
    await q.query('CREATE INDEX ix_ui_session_expires ON ui_session (expires_at)');
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE ui_session');
  }
}

module.exports = { UiSession1764940000000 };
