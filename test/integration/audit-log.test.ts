import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('the audit_event table', () => {
  let database: TestDatabase;
  let db: Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    await db.query(
      `INSERT INTO audit_event (action, target_type, target_id, detail) VALUES ('image.create', 'image', 'x', '{"a":1}')`,
    );
  });
  afterAll(async () => {
    await db.end();
    await database.drop();
  });

  it.each([
    ['UPDATE', `UPDATE audit_event SET action = 'forged'`],
    ['DELETE', 'DELETE FROM audit_event'],
    ['TRUNCATE', 'TRUNCATE audit_event'],
  ])('rejects %s with a check violation', async (_, sql) => {
    await expect(db.query(sql)).rejects.toMatchObject({ code: '23514' });
    const rows = await db.query('SELECT action FROM audit_event');
    expect(rows.rows).toEqual([{ action: 'image.create' }]);
  });

  it('accepts appends', async () => {
    await db.query(
      `INSERT INTO audit_event (action, target_type) VALUES ('image.delete', 'image')`,
    );
    expect((await db.query('SELECT count(*)::int AS n FROM audit_event')).rows[0].n).toBe(2);
  });

  it('refuses a detail that is not an object', async () => {
    await expect(
      db.query(`INSERT INTO audit_event (action, target_type, detail) VALUES ('x', 'y', '[1]')`),
    ).rejects.toMatchObject({ code: '23514' });
  });
});
