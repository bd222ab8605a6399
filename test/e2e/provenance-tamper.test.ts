import { generateKeyPairSync } from 'node:crypto';
import { Client } from 'pg';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { cliEnv, runCli, type CliResult } from '../support/cli';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { sql } from '../support/sql';
import { createTestDatabase } from '../support/test-database';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/waiting';
import { leafOf, treeHash } from '../support/tlog-check';

/**
 * `imgsrv verify` against the tampering a privileged operator could do behind the API: rows
 * rewritten in PostgreSQL with the triggers off, bytes replaced in the blob store, a record signed
 * by a key the client never trusted, and a log rewritten into a fork. Each is caught, and the
 * message names what changed.
 */

const ORIGIN = 'tamper.test.example/log';
const hex = (f: FixtureFile) => f.sha256.slice('sha256:'.length);

/** As a database owner would: the statements run with every trigger off. */
async function behindTheTriggers(app: TestApp, statements: string[]): Promise<void> {
  await sql(
    app.database.url,
    ['BEGIN', "SET LOCAL session_replication_role = 'replica'", ...statements, 'COMMIT'].join(
      ';\n',
    ),
  );
}

describe('imgsrv verify catches tampering behind the API', () => {
  let fixtures: string;
  let home: string;
  let app: TestApp;
  let writer: Record<string, string>;
  let keyFile: string;
  const files: Record<string, { meta: FixtureFile; root: FixtureFile }> = {};
  let serial = 0;

  async function publish(
    on: TestApp,
    image: string,
    version: string,
    headers = writer,
  ): Promise<void> {
    serial++;
    const meta = await makeIncusMetadata(fixtures, {
      architecture: 'x86_64',
      os: 'Debian',
      release: '12',
      variant: 'default',
      type: 'container',
      serial: `202612${String(serial).padStart(2, '0')}_01:00`,
    });
    const root = await makeSquashfs(fixtures, { seed: 60 + serial });
    files[version] = { meta, root };
    await composeDraft(on, headers, image, version, [
      { format: 'squashfs', root, metadata: meta, architecture: 'x86_64' },
    ]);
    const job = await api(on, 'POST', publishPath(image, version), headers);
    await waitForJob(on, headers, job.body.id, 'succeeded');
  }

  const verify = async (...args: string[]): Promise<CliResult & { all: string }> => {
    const result = await runCli(['verify', ...args], cliEnv(home, app));
    return { ...result, all: `${result.stdout}\n${result.stderr}` };
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    home = await mkdtemp(join(tmpdir(), 'imgsrv-verify-'));
    keyFile = join(home, 'signing.pem');
    await writeFile(
      keyFile,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    app = await startTestApp({
      env: { IMGSRV_PROVENANCE_LOG_ORIGIN: ORIGIN, IMGSRV_PROVENANCE_KEY_FILE: keyFile },
    });
    writer = (await issueIdentity(app, 'content-writer')).headers;
    await publish(app, 'debian', '1');
    await publish(app, 'debian', '2');
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('verifies an untouched version and its files, trusting the key on first use', async () => {
    const first = await verify(
      'debian',
      '2',
      '--file',
      files['2'].root.path,
      '--file',
      files['2'].meta.path,
    );
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/trusting 1 key\(s\) .* on first use/);
    expect(first.stdout).toMatch(/verified\n$/);
    const again = await verify('debian', '1', '--json');
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report.verified).toBe(true);
    expect(report.checks.map((c: { check: string }) => c.check)).toEqual(
      expect.arrayContaining([
        'checkpoint',
        'consistency',
        'record signature',
        'record in the log',
        'manifest',
      ]),
    );
  });

  it('names the artifact whose digest was rewritten in PostgreSQL', async () => {
    const [artifact] = await sql(
      app.database.url,
      `SELECT a.id FROM artifact a JOIN image_version v ON v.id = a.version_id WHERE v.version = '2'`,
    );
    const original = files['2'].root.sha256;
    const other = files['1'].root.sha256;
    await behindTheTriggers(app, [
      `UPDATE artifact SET primary_blob_digest = '${other}', primary_blob_size_bytes = ${files['1'].root.size} WHERE id = '${artifact.id}'`,
      // What serves the manifest re-reads it once the revision moves, as a tamperer would make it.
      'UPDATE streams_revision SET revision = revision + 1',
    ]);
    try {
      const result = await verify('debian', '2');
      expect(result.code).toBe(6);
      expect(result.all).toContain(
        `artifact ${artifact.id} (default amd64 squashfs) is ${other} now, the record says ${original}`,
      );
      expect(result.all).toMatch(/verification failed: manifest/);
    } finally {
      await behindTheTriggers(app, [
        `UPDATE artifact SET primary_blob_digest = '${original}', primary_blob_size_bytes = ${files['2'].root.size} WHERE id = '${artifact.id}'`,
        'UPDATE streams_revision SET revision = revision + 1',
      ]);
    }
    expect((await verify('debian', '2')).code).toBe(0);
  });

  it('refuses a download whose bytes were replaced in the blob store', async () => {
    const root = files['2'].root;
    const object = join(
      app.dataDir,
      'blobs',
      'cas',
      'sha256',
      hex(root).slice(0, 2),
      hex(root).slice(2, 4),
      hex(root),
    );
    const original = await readFile(object);
    const forged = Buffer.from(original);
    forged[forged.length - 1] ^= 0xff;
    await chmod(object, 0o644);
    await writeFile(object, forged);
    try {
      const manifest = (await api(app, 'GET', '/v1/images/debian/versions/2')).body;
      const id = manifest.artifacts[0].artifact.id;
      const res = await app.fetch(`/v1/images/debian/versions/2/artifacts/${id}/download`);
      const downloaded = join(home, 'rootfs.squashfs');
      await writeFile(downloaded, Buffer.from(await res.arrayBuffer()));
      const result = await verify('debian', '2', '--file', downloaded);
      expect(result.code).toBe(6);
      expect(result.all).toMatch(
        new RegExp(
          `FAIL file ${downloaded}: sha256 [0-9a-f]{64} is nothing the record of debian 2 names`,
        ),
      );
    } finally {
      await writeFile(object, original);
    }
  });

  it('refuses a record signed by a key it does not trust', async () => {
    const otherKey = join(home, 'other.pem');
    await writeFile(
      otherKey,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const rogue = await startTestApp({
      database: app.database,
      env: { IMGSRV_PROVENANCE_LOG_ORIGIN: ORIGIN, IMGSRV_PROVENANCE_KEY_FILE: otherKey },
    });
    try {
      await publish(rogue, 'debian', '3');
    } finally {
      await rogue.close();
    }
    // The log's newest checkpoint is the rogue key's: nothing verifies until a trusted one signs.
    const unsigned = await verify('debian', '1');
    expect(unsigned.code).toBe(6);
    expect(unsigned.all).toContain(
      `the log's checkpoint is not signed by a key you trust under ${ORIGIN}`,
    );
    await publish(app, 'debian', '4');
    const result = await verify('debian', '3');
    expect(result.code).toBe(6);
    expect(result.all).toMatch(
      /FAIL record signature: signed by key [0-9a-f]{64}, which you do not trust/,
    );
    expect((await verify('debian', '4')).code).toBe(0);
  });

  it('notices a log rewritten into a fork of what it saw', async () => {
    // The client has seen the newest checkpoint. Remove the last entry, set the head back, and
    // let the server append something else at that index: the server signs the forked tree.
    const entries = await sql<{ entry: Buffer }>(
      app.database.url,
      'SELECT log_index, entry FROM transparency_log_entry ORDER BY log_index',
    );
    const size = entries.length;
    const kept = entries.slice(0, size - 1).map((e) => leafOf(e.entry));
    // The compact range of the kept tree: one perfect subtree per set bit, largest first.
    const frontier: Buffer[] = [];
    let at = 0;
    for (let bit = 2 ** 20; bit >= 1; bit /= 2)
      if ((kept.length & bit) !== 0) {
        frontier.push(treeHash(kept.slice(at, at + bit)));
        at += bit;
      }
    const arrayLiteral = `ARRAY[${frontier.map((h) => `'\\x${h.toString('hex')}'::bytea`).join(',')}]::bytea[]`;
    await behindTheTriggers(app, [
      `DELETE FROM transparency_log_entry WHERE log_index = ${size - 1}`,
      `DELETE FROM transparency_checkpoint WHERE tree_size = ${size}`,
      `UPDATE transparency_log_head SET tree_size = ${size - 1}, root_hash = '\\x${treeHash(kept).toString('hex')}', frontier = ${kept.length === 0 ? "'{}'" : arrayLiteral} WHERE id = 1`,
    ]);
    await publish(app, 'debian', '5');
    const result = await verify('debian', '5');
    expect(result.code).toBe(6);
    expect(result.all).toContain(
      `FAIL consistency: the log forked: the tree of size ${size} you saw before`,
    );
  });
});

describe('versions published before records existed', () => {
  it('get their records when a worker starts, and verify', async () => {
    const fixtures = await makeFixtureDir();
    const home = await mkdtemp(join(tmpdir(), 'imgsrv-backfill-'));
    const database = await createTestDatabase();
    try {
      const before = await startTestApp({ database, env: { IMGSRV_PROVENANCE_RECORDS: 'false' } });
      let writer: Record<string, string>;
      let token: string;
      try {
        ({ headers: writer, token } = await issueIdentity(before, 'content-writer'));
        for (const [version, seed] of [
          ['1', 91],
          ['2', 92],
        ] as const) {
          const meta = await makeIncusMetadata(fixtures, {
            architecture: 'x86_64',
            os: 'Debian',
            release: '12',
            variant: 'default',
            type: 'container',
            serial: `2026120${seed - 90}_01:00`,
          });
          const root = await makeSquashfs(fixtures, { seed });
          await composeDraft(before, writer, 'old', version, [
            { format: 'squashfs', root, metadata: meta, architecture: 'x86_64' },
          ]);
          const job = await api(before, 'POST', publishPath('old', version), writer);
          await waitForJob(before, writer, job.body.id, 'succeeded');
        }
        expect(
          (
            await api(before, 'POST', '/v1/images/old/versions/1/withdraw', writer, {
              reason: 'old',
            })
          ).status,
        ).toBe(200);
        const none = await api(before, 'GET', '/v1/images/old/versions/2/provenance');
        expect(none.status).toBe(404);
        expect(none.body.code).toBe('PROVENANCE_NOT_FOUND');
      } finally {
        await before.close();
      }

      // Version 2's row is held by another transaction as the next server starts: the backfill
      // records version 1, skips 2 rather than wait, and records it once it is free.
      const holder = new Client({ connectionString: database.url });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM image_version WHERE version = '2' FOR UPDATE`);
      let held = true;
      const after = await startTestApp({ database });
      try {
        const recorded = await eventually('the backfill', async () => {
          const res = await api(after, 'GET', '/v1/images/old/versions/1/provenance', writer);
          return res.status === 200 && res.body.withdrawal ? res.body : undefined;
        });
        expect((await api(after, 'GET', '/v1/images/old/versions/2/provenance')).status).toBe(404);
        await holder.query('ROLLBACK');
        held = false;
        await eventually(
          'the backfill of the held version',
          async () =>
            (await api(after, 'GET', '/v1/images/old/versions/2/provenance')).status === 200 ||
            undefined,
          { attempts: 1200 },
        );
        const statement = JSON.parse(Buffer.from(recorded.record.payload, 'base64').toString());
        expect(statement.predicate).toMatchObject({
          image: 'old',
          version: '1',
          job_id: null,
          recorded_at: expect.any(String),
        });
        expect(recorded.withdrawal.kind).toBe('withdrawal');
        const env = cliEnv(home, after, token);
        const two = await runCli(['verify', 'old', '2'], env);
        expect(two.stdout).toMatch(/verified\n$/);
        expect(two.code).toBe(0);
        const one = await runCli(['verify', 'old', '1'], env);
        expect(one.stdout).toContain('verified, but WITHDRAWN');
        expect(one.code).toBe(7);
        // A second start finds nothing left to record.
        expect(
          (await sql(database.url, 'SELECT count(*)::int AS n FROM transparency_log_entry'))[0].n,
        ).toBe(3);
      } finally {
        if (held) await holder.query('ROLLBACK');
        await holder.end();
        await after.close();
      }
    } finally {
      await database.drop();
      await removeFixtureDir(fixtures);
      await rm(home, { recursive: true, force: true });
    }
  }, 300_000);
});
