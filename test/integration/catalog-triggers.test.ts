import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('catalog immutability in PostgreSQL', () => {
  let database: TestDatabase;
  let db: Client;
  let imageId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    imageId = (await db.query(`INSERT INTO image (name) VALUES ('debian-12') RETURNING id`)).rows[0]
      .id;
  });
  afterAll(async () => {
    await db.end();
    await database.drop();
  });

  async function version(
    name: string,
  ): Promise<{ versionId: string; artifactId: string; attachmentId: string }> {
    const versionId = (
      await db.query(`INSERT INTO image_version (image_id, version) VALUES ($1, $2) RETURNING id`, [
        imageId,
        name,
      ])
    ).rows[0].id;
    const artifactId = (
      await db.query(
        `INSERT INTO artifact (version_id, operating_system, architecture, format, primary_blob_digest, primary_blob_size_bytes, primary_media_type)
         VALUES ($1, 'debian', 'amd64', 'qcow2', $2, 10, 'application/octet-stream') RETURNING id`,
        [versionId, DIGEST],
      )
    ).rows[0].id;
    const attachmentId = (
      await db.query(
        `INSERT INTO attachment (artifact_id, name, media_type, blob_digest, blob_size_bytes)
         VALUES ($1, 'incus.tar.xz', 'application/x-xz', $2, 5) RETURNING id`,
        [artifactId, DIGEST],
      )
    ).rows[0].id;
    return { versionId, artifactId, attachmentId };
  }

  async function publish(versionId: string): Promise<void> {
    await db.query(`UPDATE image_version SET state = 'publishing' WHERE id = $1`, [versionId]);
    await db.query(
      `UPDATE image_version SET state = 'published', published_at = now() WHERE id = $1`,
      [versionId],
    );
  }

  const violates = (sql: string, params: unknown[] = []) =>
    expect(db.query(sql, params)).rejects.toMatchObject({ code: '23514' });

  describe('a published version', () => {
    let v: Awaited<ReturnType<typeof version>>;
    beforeAll(async () => {
      v = await version('1.0');
      await publish(v.versionId);
    });

    it('refuses any update, state included', async () => {
      await violates(
        `UPDATE image_version SET state = 'draft', published_at = NULL WHERE id = $1`,
        [v.versionId],
      );
      await violates(`UPDATE image_version SET published_by = gen_random_uuid() WHERE id = $1`, [
        v.versionId,
      ]);
      await violates(`UPDATE image_version SET version = '1.1' WHERE id = $1`, [v.versionId]);
    });

    it('refuses deletion', async () => {
      await violates(`DELETE FROM image_version WHERE id = $1`, [v.versionId]);
    });

    it('refuses changes to its artifacts and attachments', async () => {
      await violates(
        `INSERT INTO artifact (version_id, operating_system, architecture, format, primary_blob_digest, primary_blob_size_bytes, primary_media_type)
         VALUES ($1, 'debian', 'arm64', 'qcow2', $2, 10, 'application/octet-stream')`,
        [v.versionId, DIGEST],
      );
      await violates(`DELETE FROM artifact WHERE id = $1`, [v.artifactId]);
      await violates(
        `INSERT INTO attachment (artifact_id, name, media_type, blob_digest, blob_size_bytes) VALUES ($1, 'sbom', 'application/json', $2, 1)`,
        [v.artifactId, DIGEST],
      );
      await violates(`DELETE FROM attachment WHERE id = $1`, [v.attachmentId]);
      const still = await db.query(
        `SELECT count(*)::int AS n FROM attachment a JOIN artifact r ON r.id = a.artifact_id WHERE r.version_id = $1`,
        [v.versionId],
      );
      expect(still.rows[0].n).toBe(1);
    });
  });

  describe('a publishing version', () => {
    it('freezes its manifest but may be cancelled back to draft', async () => {
      const v = await version('2.0');
      await db.query(`UPDATE image_version SET state = 'publishing' WHERE id = $1`, [v.versionId]);
      await violates(`DELETE FROM artifact WHERE id = $1`, [v.artifactId]);
      await violates(`DELETE FROM image_version WHERE id = $1`, [v.versionId]);
      await db.query(`UPDATE image_version SET state = 'draft' WHERE id = $1`, [v.versionId]);
      await db.query(`DELETE FROM attachment WHERE id = $1`, [v.attachmentId]);
    });
  });

  describe('state moves', () => {
    it('allows only draft → publishing → published', async () => {
      const v = await version('3.0');
      await violates(
        `UPDATE image_version SET state = 'published', published_at = now() WHERE id = $1`,
        [v.versionId],
      );
      await publish(v.versionId);
      const row = await db.query(`SELECT state FROM image_version WHERE id = $1`, [v.versionId]);
      expect(row.rows[0].state).toBe('published');
    });

    it('requires published_at exactly when published', async () => {
      const v = await version('4.0');
      await db.query(`UPDATE image_version SET state = 'publishing' WHERE id = $1`, [v.versionId]);
      await violates(`UPDATE image_version SET state = 'published' WHERE id = $1`, [v.versionId]);
    });
  });

  describe('refusals', () => {
    const refused = (constraint: string, sql: string, params: unknown[] = []) =>
      expect(db.query(sql, params)).rejects.toMatchObject({ code: '23514', constraint });

    it('name what they refused, so the application maps each one by name', async () => {
      const published = await version('7.0');
      await publish(published.versionId);
      await refused(
        'image_version_frozen',
        `UPDATE image_version SET state = 'draft' WHERE id = $1`,
        [published.versionId],
      );
      await refused('image_version_delete_not_draft', `DELETE FROM image_version WHERE id = $1`, [
        published.versionId,
      ]);
      await refused('manifest_frozen', `DELETE FROM artifact WHERE id = $1`, [
        published.artifactId,
      ]);
      const draft = await version('8.0');
      await refused(
        'image_version_transition',
        `UPDATE image_version SET state = 'published', published_at = now() WHERE id = $1`,
        [draft.versionId],
      );
      await refused(
        'image_version_identity',
        `UPDATE image_version SET version = '8.1' WHERE id = $1`,
        [draft.versionId],
      );
      await refused(
        'manifest_row_immutable',
        `UPDATE artifact SET architecture = 'arm64' WHERE id = $1`,
        [draft.artifactId],
      );
      await refused('image_identity', `UPDATE image SET name = 'debian-14' WHERE id = $1`, [
        imageId,
      ]);
    });
  });

  describe('identities', () => {
    it('never change, even in drafts', async () => {
      const v = await version('5.0');
      await violates(`UPDATE artifact SET architecture = 'arm64' WHERE id = $1`, [v.artifactId]);
      await violates(`UPDATE attachment SET blob_size_bytes = 6 WHERE id = $1`, [v.attachmentId]);
      await violates(`UPDATE image_version SET version = '5.1' WHERE id = $1`, [v.versionId]);
      await violates(`UPDATE image SET name = 'debian-13' WHERE id = $1`, [imageId]);
      await db.query(`UPDATE image SET display_name = 'Debian 12' WHERE id = $1`, [imageId]);
    });

    it('lets a draft go with its whole manifest', async () => {
      const v = await version('6.0');
      await db.query(`DELETE FROM image_version WHERE id = $1`, [v.versionId]);
      expect(
        (await db.query(`SELECT 1 FROM artifact WHERE id = $1`, [v.artifactId])).rowCount,
      ).toBe(0);
    });
  });
  describe('withdrawal', () => {
    const refused = (constraint: string, sql: string, params: unknown[] = []) =>
      expect(db.query(sql, params)).rejects.toMatchObject({ code: '23514', constraint });
    const WITHDRAW = `UPDATE image_version SET state = 'withdrawn', withdrawn_at = now(),
        withdrawn_reason = 'broken', purge_after = now() + interval '1 day' WHERE id = $1`;

    async function alias(name: string, versionId: string): Promise<void> {
      await db.query(`INSERT INTO alias (image_id, alias, version_id) VALUES ($1, $2, $3)`, [
        imageId,
        name,
        versionId,
      ]);
    }

    it('moves only a published version, and records why', async () => {
      const draft = await version('10.0');
      await refused('image_version_transition', WITHDRAW, [draft.versionId]);
      await db.query(`UPDATE image_version SET state = 'publishing' WHERE id = $1`, [
        draft.versionId,
      ]);
      await refused('image_version_transition', WITHDRAW, [draft.versionId]);
      const published = await version('10.1');
      await publish(published.versionId);
      // Without a reason or a purge time it is not a withdrawal.
      await violates(
        `UPDATE image_version SET state = 'withdrawn', withdrawn_at = now() WHERE id = $1`,
        [published.versionId],
      );
      await db.query(WITHDRAW, [published.versionId]);
      const row = (
        await db.query(`SELECT state, published_at FROM image_version WHERE id = $1`, [
          published.versionId,
        ])
      ).rows[0];
      expect(row.state).toBe('withdrawn');
      expect(row.published_at).not.toBeNull();
    });

    it('never returns to published or draft, and its manifest stays frozen', async () => {
      const v = await version('11.0');
      await publish(v.versionId);
      await db.query(WITHDRAW, [v.versionId]);
      await refused(
        'image_version_frozen',
        `UPDATE image_version SET state = 'published' WHERE id = $1`,
        [v.versionId],
      );
      await refused(
        'image_version_frozen',
        `UPDATE image_version SET state = 'draft', published_at = NULL, withdrawn_at = NULL,
            withdrawn_reason = NULL, purge_after = NULL WHERE id = $1`,
        [v.versionId],
      );
      await refused(
        'image_version_frozen',
        `UPDATE image_version SET withdrawn_reason = 'something else' WHERE id = $1`,
        [v.versionId],
      );
      await refused('image_version_delete_not_draft', `DELETE FROM image_version WHERE id = $1`, [
        v.versionId,
      ]);
      await refused('manifest_frozen', `DELETE FROM attachment WHERE id = $1`, [v.attachmentId]);
      await refused('manifest_frozen', `DELETE FROM artifact WHERE id = $1`, [v.artifactId]);
    });

    it('is deleted only by the transaction that deletes its image', async () => {
      const v = await version('15.0');
      await publish(v.versionId);
      await db.query(WITHDRAW, [v.versionId]);
      await refused('image_version_delete_not_draft', `DELETE FROM image_version WHERE id = $1`, [
        v.versionId,
      ]);
      await db.query('BEGIN');
      try {
        // Naming another image does not help.
        await db.query(`SELECT set_config('imgsrv.deleting_image', gen_random_uuid()::text, true)`);
        await refused('image_version_delete_not_draft', `DELETE FROM image_version WHERE id = $1`, [
          v.versionId,
        ]);
      } finally {
        await db.query('ROLLBACK');
      }
      await db.query('BEGIN');
      await db.query(`SELECT set_config('imgsrv.deleting_image', $1, true)`, [imageId]);
      await db.query(`DELETE FROM image_version WHERE id = $1`, [v.versionId]);
      await db.query('COMMIT');
      expect(
        (await db.query(`SELECT 1 FROM artifact WHERE id = $1`, [v.artifactId])).rowCount,
      ).toBe(0);
      // The setting was the transaction's own: a published version is never deleted.
      const p = await version('15.1');
      await publish(p.versionId);
      await refused('image_version_delete_not_draft', `DELETE FROM image_version WHERE id = $1`, [
        p.versionId,
      ]);
    });

    it('takes a purge once, and nothing after it', async () => {
      const v = await version('12.0');
      await publish(v.versionId);
      await violates(`UPDATE image_version SET purged_at = now() WHERE id = $1`, [v.versionId]);
      await db.query(WITHDRAW, [v.versionId]);
      await db.query(`UPDATE image_version SET purged_at = now() WHERE id = $1`, [v.versionId]);
      await refused(
        'image_version_frozen',
        `UPDATE image_version SET purged_at = NULL WHERE id = $1`,
        [v.versionId],
      );
    });

    it('is refused while an alias points at the version, and no alias can point at a withdrawn one', async () => {
      const aliased = await version('13.0');
      await publish(aliased.versionId);
      await alias('stable', aliased.versionId);
      await refused('image_version_withdraw_aliased', WITHDRAW, [aliased.versionId]);
      const next = await version('13.1');
      await publish(next.versionId);
      await db.query(`UPDATE alias SET version_id = $1 WHERE alias = 'stable'`, [next.versionId]);
      await db.query(WITHDRAW, [aliased.versionId]);
      await refused(
        'alias_target_not_published',
        `UPDATE alias SET version_id = $1 WHERE alias = 'stable'`,
        [aliased.versionId],
      );
      await refused(
        'alias_target_not_published',
        `INSERT INTO alias (image_id, alias, version_id) VALUES ($1, 'old', $2)`,
        [imageId, aliased.versionId],
      );
    });

    it('and an alias move to the same version cannot both commit', async () => {
      const target = await version('14.0');
      await publish(target.versionId);
      const other = await version('14.1');
      await publish(other.versionId);
      await alias('edge', other.versionId);
      const mover = new Client({ connectionString: database.url });
      await mover.connect();
      try {
        await db.query('BEGIN');
        await db.query(WITHDRAW, [target.versionId]);
        await mover.query('BEGIN');
        // Waits for the withdrawal's lock on the version, then sees it withdrawn.
        const move = mover.query(`UPDATE alias SET version_id = $1 WHERE alias = 'edge'`, [
          target.versionId,
        ]);
        await db.query('COMMIT');
        await expect(move).rejects.toMatchObject({ constraint: 'alias_target_not_published' });
        await mover.query('ROLLBACK');
      } finally {
        await mover.end();
      }
      const edge = await db.query(`SELECT version_id FROM alias WHERE alias = 'edge'`);
      expect(edge.rows[0].version_id).toBe(other.versionId);
    });
  });
});
