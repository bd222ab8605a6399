import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';
import { issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeSquashfs,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';
import {
  bundleEntries,
  consistencyHolds,
  envelopeVerifies,
  inclusionHolds,
  jcs,
  leafOf,
  readCheckpoint,
  tileIndex,
  treeHash,
} from '../support/tlog-check';

const ORIGIN = 'images.test.example/log';
const b64 = (s: string) => Buffer.from(s, 'base64');

interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { keyid: string; sig: string }[];
}

interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

const statementOf = (e: Envelope) =>
  JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as Statement;

describe('provenance: signed records and the transparency log', () => {
  let fixtures: string;
  let app: TestApp;
  let writer: Record<string, string>;
  const files: Record<string, { meta: FixtureFile; root: FixtureFile }> = {};

  async function publish(image: string, version: string, seed: number): Promise<void> {
    const meta = await makeIncusMetadata(fixtures, {
      architecture: 'x86_64',
      os: 'Debian',
      release: '12',
      variant: 'default',
      type: 'container',
      serial: `2026120${seed % 10}_01:00`,
    });
    const root = await makeSquashfs(fixtures, { seed });
    files[`${image}/${version}`] = { meta, root };
    await composeDraft(app, writer, image, version, [
      { format: 'squashfs', root, metadata: meta, architecture: 'x86_64' },
    ]);
    const job = await api(app, 'POST', publishPath(image, version), writer);
    await waitForJob(app, writer, job.body.id, 'succeeded');
  }

  const key = async () => {
    const res = await api(app, 'GET', '/v1/provenance/keys');
    expect(res.status).toBe(200);
    expect(res.body.log_origin).toBe(ORIGIN);
    const active = res.body.keys.filter((k: { active: boolean }) => k.active);
    expect(active).toHaveLength(1);
    return {
      keyId: active[0].key_id as string,
      publicKey: createPublicKey(active[0].public_key_pem as string),
    };
  };

  const checkpoint = async () => {
    const res = await app.fetch('/v1/provenance/log/checkpoint');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    return readCheckpoint(await res.text(), ORIGIN, (await key()).publicKey);
  };

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    app = await startTestApp({ env: { IMGSRV_PROVENANCE_LOG_ORIGIN: ORIGIN } });
    writer = (await issueIdentity(app, 'content-writer')).headers;
    await publish('debian', '1', 41);
    await publish('debian', '2', 42);
    await publish('secret', '1', 43);
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('signs a checkpoint over every record, and the tiles rebuild its root', async () => {
    const cp = await checkpoint();
    expect(cp).toMatchObject({ origin: ORIGIN, size: 3 });
    const leaves = await app.fetch(`/v1/provenance/log/tile/0/${tileIndex(0)}.p/3`);
    expect(leaves.status).toBe(200);
    expect(leaves.headers.get('cache-control')).toContain('immutable');
    const hashes = Buffer.from(await leaves.arrayBuffer());
    expect(hashes.length).toBe(96);
    const leafHashes = [0, 1, 2].map((i) => hashes.subarray(i * 32, (i + 1) * 32));
    expect(treeHash(leafHashes).equals(cp.root)).toBe(true);

    const bundle = await app.fetch(`/v1/provenance/log/tile/entries/${tileIndex(0)}.p/3`);
    const entries = bundleEntries(Buffer.from(await bundle.arrayBuffer()));
    expect(entries.map((e) => leafOf(e).toString('hex'))).toEqual(
      leafHashes.map((h) => h.toString('hex')),
    );
    // Each entry is a Rekor dsse body naming the envelope by hash.
    expect(JSON.parse(entries[0].toString())).toMatchObject({ kind: 'dsse', apiVersion: '0.0.1' });

    // Tiles beyond the tree, or spelled otherwise, are not there.
    for (const path of [
      '0/000.p/4',
      '0/000',
      '1/000.p/1',
      '0/x000/000.p/3',
      '0/0.p/3',
      'entries/001.p/1',
    ])
      expect((await app.fetch(`/v1/provenance/log/tile/${path}`)).status).toBe(404);
  });

  it('serves each version’s signed statement naming every byte it ships and its fingerprint', async () => {
    const { publicKey, keyId } = await key();
    const res = await api(app, 'GET', '/v1/images/debian/versions/2/provenance');
    expect(res.status).toBe(200);
    const envelope = res.body.record as Envelope;
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(envelope.signatures[0].keyid).toBe(keyId);
    expect(envelopeVerifies(envelope, publicKey)).toBe(true);

    const statement = statementOf(envelope);
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    const digests = statement.subject.map((s) => s.digest.sha256);
    const { meta, root } = files['debian/2'];
    expect(digests).toContain(root.sha256.slice(7));
    expect(digests).toContain(meta.sha256.slice(7));
    const images = await (await app.fetch('/streams/v1/images.json')).json();
    const fingerprints = JSON.stringify(images).match(
      /"combined_squashfs_sha256":"([0-9a-f]{64})"/g,
    );
    expect(fingerprints).not.toBeNull();
    const own = createHash('sha256')
      .update(await readFile(meta.path))
      .update(await readFile(root.path))
      .digest('hex');
    expect(digests).toContain(own);

    // The manifest digest is RFC 8785 of the frozen part of the manifest served now.
    const manifest = (await api(app, 'GET', '/v1/images/debian/versions/2')).body;
    const core = {
      image: manifest.image.name,
      version: manifest.version.version,
      artifacts: manifest.artifacts
        .map(
          ({
            artifact: a,
            attachments,
          }: {
            artifact: Record<string, unknown>;
            attachments: Record<string, unknown>[];
          }) => ({
            id: a.id,
            variant: a.variant,
            operating_system: a.operating_system,
            architecture: a.architecture,
            format: a.format,
            primary_blob_digest: a.primary_blob_digest,
            primary_blob_size_bytes: a.primary_blob_size_bytes,
            primary_media_type: a.primary_media_type,
            attachments: attachments
              .map((t) => ({
                id: t.id,
                name: t.name,
                media_type: t.media_type,
                blob_digest: t.blob_digest,
                blob_size_bytes: t.blob_size_bytes,
              }))
              .sort((x, y) => String(x.id).localeCompare(String(y.id))),
          }),
        )
        .sort((x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id)),
    };
    expect(statement.predicate).toMatchObject({
      image: 'debian',
      version: '2',
      manifest_digest: `sha256:${createHash('sha256').update(jcs(core)).digest('hex')}`,
      published_at: manifest.version.published_at,
    });
    expect(res.body.withdrawal).toBeNull();
  });

  it('proves inclusion of every record and consistency between sizes, by the RFCs', async () => {
    const cp = await checkpoint();
    for (const [name, version] of [
      ['debian', '1'],
      ['debian', '2'],
      ['secret', '1'],
    ]) {
      const res = await api(app, 'GET', `/v1/images/${name}/versions/${version}/provenance`);
      const entry = res.body.bundle.verificationMaterial.tlogEntries[0];
      const leaf = leafOf(b64(entry.canonicalizedBody));
      const proof = await api(
        app,
        'GET',
        `/v1/provenance/log/proof/inclusion?index=${res.body.log_index}&tree_size=${cp.size}`,
      );
      expect(proof.status).toBe(200);
      expect(b64(proof.body.leaf_hash).equals(leaf)).toBe(true);
      expect(
        inclusionHolds(res.body.log_index, cp.size, leaf, proof.body.hashes.map(b64), cp.root),
      ).toBe(true);
      // A wrong index does not verify with the same path.
      expect(
        inclusionHolds(
          (res.body.log_index + 1) % cp.size,
          cp.size,
          leaf,
          proof.body.hashes.map(b64),
          cp.root,
        ),
      ).toBe(false);
    }
    const { publicKey } = await key();
    for (const from of [0, 1, 2, 3]) {
      const proof = await api(app, 'GET', `/v1/provenance/log/proof/consistency?from=${from}&to=3`);
      expect(proof.status).toBe(200);
      const older =
        from === 0
          ? { root: createHash('sha256').digest() }
          : readCheckpoint(
              (
                await api(
                  app,
                  'GET',
                  `/v1/provenance/log/proof/inclusion?index=0&tree_size=${from}`,
                )
              ).body.checkpoint,
              ORIGIN,
              publicKey,
            );
      expect(consistencyHolds(from, 3, older.root, cp.root, proof.body.hashes.map(b64))).toBe(true);
    }
  });

  it('hands out a Sigstore bundle that @sigstore/verify accepts with imgsrv’s key', async () => {
    const { publicKey, keyId } = await key();
    const res = await api(app, 'GET', '/v1/images/debian/versions/1/provenance');
    const raw = createHash('sha256')
      .update(`${ORIGIN}\n`)
      .update(Buffer.from([1]))
      .update(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'))
      .digest();
    const trust: TrustMaterial = {
      certificateAuthorities: [],
      timestampAuthorities: [],
      ctlogs: [],
      tlogs: [
        {
          logID: raw,
          baseURL: `https://${ORIGIN}`,
          publicKey,
          validFor: { start: new Date(0), end: new Date(8.64e15) },
        },
      ],
      publicKey: (hint: string) => {
        if (hint !== keyId) throw new Error(`unknown key ${hint}`);
        return { publicKey, validFor: () => true };
      },
    };
    const verifier = new Verifier(trust, { timestampThreshold: 0, tlogThreshold: 1 });
    const bundle = bundleFromJSON(res.body.bundle);
    expect(() => verifier.verify(toSignedEntity(bundle))).not.toThrow();

    // The same bundle with another version's statement swapped in fails.
    const other = await api(app, 'GET', '/v1/images/debian/versions/2/provenance');
    const forged = bundleFromJSON({
      ...res.body.bundle,
      dsseEnvelope: { ...res.body.bundle.dsseEnvelope, payload: other.body.record.payload },
    });
    expect(() => verifier.verify(toSignedEntity(forged))).toThrow();
    // So does a bundle whose inclusion proof does not reach the checkpoint's root.
    const entry = res.body.bundle.verificationMaterial.tlogEntries[0];
    const bent = bundleFromJSON({
      ...res.body.bundle,
      verificationMaterial: {
        ...res.body.bundle.verificationMaterial,
        tlogEntries: [
          {
            ...entry,
            inclusionProof: {
              ...entry.inclusionProof,
              hashes: entry.inclusionProof.hashes.map(() => Buffer.alloc(32, 7).toString('base64')),
            },
          },
        ],
      },
    });
    expect(entry.inclusionProof.hashes.length).toBeGreaterThan(0);
    expect(() => verifier.verify(toSignedEntity(bent))).toThrow(/inclusion|root/i);
  });

  it('appends a withdrawal record to the same log', async () => {
    const before = await checkpoint();
    const done = await api(app, 'POST', '/v1/images/debian/versions/1/withdraw', writer, {
      reason: 'superseded',
    });
    expect(done.status).toBe(200);
    const after = await checkpoint();
    expect(after.size).toBe(before.size + 1);
    const res = await api(app, 'GET', '/v1/images/debian/versions/1/provenance', writer);
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe('publication');
    expect(res.body.withdrawal).toMatchObject({ kind: 'withdrawal', log_index: before.size });
    const statement = statementOf(res.body.withdrawal.record);
    expect(statement.predicateType).toMatch(/withdrawal/);
    expect(statement.predicate).toMatchObject({ version: '1', reason: 'superseded' });
    expect(statement.subject.map((s) => s.digest.sha256)).toEqual(
      statementOf(res.body.record).subject.map((s) => s.digest.sha256),
    );
    const proof = await api(app, 'GET', `/v1/provenance/log/proof/consistency?from=${before.size}`);
    expect(
      consistencyHolds(
        before.size,
        after.size,
        before.root,
        after.root,
        proof.body.hashes.map(b64),
      ),
    ).toBe(true);
  });

  it('keeps records as private as their versions, and answers bad requests with problems', async () => {
    const scoped = (await issueIdentity(app, 'content-writer', ['debian'])).headers;
    const hidden = await api(app, 'GET', '/v1/images/secret/versions/1/provenance', scoped);
    const manifest = await api(app, 'GET', '/v1/images/secret/versions/1', scoped);
    expect(hidden.status).toBe(manifest.status);
    await composeDraft(app, writer, 'debian', 'draft', []);
    const draft = await api(app, 'GET', '/v1/images/debian/versions/draft/provenance', writer);
    expect(draft.status).toBe(404);
    expect(draft.body.code).toBe('PROVENANCE_NOT_FOUND');
    for (const query of ['index=99', 'index=0&tree_size=99', 'index=-1', 'index=abc', '']) {
      const res = await api(app, 'GET', `/v1/provenance/log/proof/inclusion?${query}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    for (const query of ['from=99', 'from=2&to=1', 'from=x', 'from=0&to=0', 'from=1&to=1e400']) {
      const res = await api(app, 'GET', `/v1/provenance/log/proof/consistency?${query}`);
      expect(res.status).toBe(400);
    }
  });
});
