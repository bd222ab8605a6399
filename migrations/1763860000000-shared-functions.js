// @ts-check
/**
 * Functions every table of the schema shares: keeping updated_at current, and refusing changes
 * to rows that must never change.
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class SharedFunctions1763860000000 {
  name = 'SharedFunctions1763860000000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.updated_at := now();
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% on % is not allowed: rows of this table are append-only', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'check_violation';
      END $$`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP FUNCTION reject_change()');
    await q.query('DROP FUNCTION set_updated_at()');
  }
}

module.exports = { SharedFunctions1763860000000 };
