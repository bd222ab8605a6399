// Provenance: publish latency with signed records and the transparency log against the same
// publishes without them (two servers, interleaved), then the log grown to 10,000 records by the
// server's own append code and its reads at that size (checkpoint, proofs, tiles) over HTTP.
import { createRequire } from 'node:module';
import { generateKeyPairSync, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { apiClient, waitForJob, writerToken } from '../lib/client.mjs';
import { makeDraft, uploadMetadata } from '../lib/images.mjs';
import { log, MIB, nowMs, quantile } from '../lib/util.mjs';

const require = createRequire(import.meta.url);
const dist = (path) => require(`../../dist/${path}`);

export async function provenanceSuite(ctx) {
  const { sequentialPublishes, provenanceRecords } = ctx.settings;

  // ---- publish p50 with records against without, interleaved
  const on = await ctx.group('prov-on');
  const off = await ctx.group('prov-off', { env: { IMGSRV_PROVENANCE_RECORDS: 'false' } });
  const sides = [];
  for (const [mode, group] of [
    ['with', on],
    ['without', off],
  ]) {
    const server = await group.start('api');
    const api = apiClient(server.url, await writerToken(server.url, group.bootstrapToken));
    await api.post('/v1/images', { name: 'prov' });
    const meta = await uploadMetadata(api, ctx.workDir, `prov-${mode}`, 'bench');
    sides.push({ mode, server, api, meta, latencies: [] });
  }
  for (let i = 0; i < sequentialPublishes; i++) {
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      const version = `1.${i}`;
      await makeDraft(side.api, { image: 'prov', version, meta: side.meta, rootSize: MIB });
      const t0 = nowMs();
      const start = await side.api.post(`/v1/images/prov/versions/${version}/publish`, {});
      await waitForJob(side.api, start.body.id, { pollMs: 2 });
      side.latencies.push(nowMs() - t0);
    }
  }
  const [withRecords, without] = sides;
  const logged = await on.pg(
    async (db) =>
      (await db.query('SELECT count(*)::int AS n FROM transparency_log_entry')).rows[0].n,
  );
  if (logged !== sequentialPublishes)
    throw new Error(`expected ${sequentialPublishes} log entries, found ${logged}`);
  ctx.figure({
    id: 'provenance.publish',
    suite: 'Provenance',
    title: `Publish latency with a signed record appended to the transparency log, request → succeeded (p50 of ${sequentialPublishes}, interleaved with as many on a server without records)`,
    unit: 'ms',
    samples: withRecords.latencies,
    reference: { name: 'without records', short: 'no records', samples: without.latencies },
    target: { text: '≤ 1.2× without', op: '<=', bound: 1.2 },
    extra: {
      p90_ms: quantile(withRecords.latencies, 0.9),
      without_p90_ms: quantile(without.latencies, 0.9),
    },
  });
  await off.stop();

  // ---- the log grown by the server's own append code, each record in its own transaction
  const { createDataSource } = dist('database/data-source.js');
  const { TransparencyLog } = dist('provenance/transparency-log.js');
  const { describeKey } = dist('provenance/signing-keys.js');
  const { noteKeyHash, noteKeyId } = dist('transparency/signed-note.js');
  const { signEnvelope, IN_TOTO_PAYLOAD_TYPE } = dist('transparency/dsse.js');
  const records = dist('transparency/records.js');
  const origin = 'imgsrv.local/log';
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  const key = {
    ...describeKey(publicKey),
    privateKey,
    noteName: origin,
    noteKeyId: noteKeyId(origin, publicKey),
    logId: noteKeyHash(origin, publicKey),
  };
  const dataSource = createDataSource({ url: on.databaseUrl, poolSize: 2 });
  await dataSource.initialize();
  ctx.onCleanup(() => dataSource.destroy());
  await dataSource.query(
    `INSERT INTO provenance_key (key_id, algorithm, public_key_pem) VALUES ($1, 'ed25519', $2)`,
    [key.keyId, key.publicKeyPem],
  );
  const tlog = new TransparencyLog(dataSource, { current: key });
  const digest = () => `sha256:${randomBytes(32).toString('hex')}`;
  const target = provenanceRecords;
  const appendMs = [];
  const t0 = nowMs();
  for (let i = logged; i < target; i++) {
    // A record the size of a real one: two artifacts with their metadata attachments.
    const manifest = {
      image: { name: 'prov' },
      version: { version: `9.${i}` },
      artifacts: [0, 1].map(() => ({
        artifact: {
          id: randomUUID(),
          variant: 'default',
          operating_system: 'debian',
          architecture: 'amd64',
          format: 'squashfs',
          primary_blob_digest: digest(),
          primary_blob_size_bytes: MIB,
          primary_media_type: 'application/vnd.squashfs',
        },
        attachments: [
          {
            id: randomUUID(),
            name: 'incus.tar.xz',
            media_type: 'application/x-xz',
            blob_digest: digest(),
            blob_size_bytes: 4096,
          },
        ],
      })),
    };
    const statement = records.publicationStatement(manifest, new Map(), {
      publisher: null,
      publishedAt: new Date().toISOString(),
      jobId: randomUUID(),
    });
    const envelope = signEnvelope(
      IN_TOTO_PAYLOAD_TYPE,
      records.statementBytes(statement),
      key.keyId,
      privateKey,
    );
    const a0 = nowMs();
    await dataSource.transaction((manager) =>
      tlog.append(manager, {
        kind: 'publication',
        versionId: randomUUID(),
        imageName: 'prov',
        version: `9.${i}`,
        entry: records.logEntryFor(envelope, key.publicKeyPem),
        envelope: records.envelopeBytes(envelope).toString('utf8'),
        keyId: key.keyId,
      }),
    );
    appendMs.push(nowMs() - a0);
    if ((i + 1) % 2000 === 0) log(`log at ${i + 1} records`);
  }
  const totalS = (nowMs() - t0) / 1000;
  ctx.figure({
    id: 'provenance.append',
    suite: 'Provenance',
    title: `Appending a signed record to the log (sign checkpoint, lock head, insert; one transaction each), ${logged} → ${target} records`,
    unit: 'ms',
    samples: appendMs,
    extra: {
      p90_ms: quantile(appendMs, 0.9),
      p99_ms: quantile(appendMs, 0.99),
      first_1000_p50_ms: quantile(appendMs.slice(0, 1000), 0.5),
      last_1000_p50_ms: quantile(appendMs.slice(-1000), 0.5),
      total_s: Number(totalS.toFixed(1)),
    },
  });

  // ---- reads at that size, over HTTP from the server that holds the log
  const base = withRecords.server.url;
  const get = async (path) => {
    const res = await fetch(`${base}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return res;
  };
  const c0 = nowMs();
  await (await get(`/v1/provenance/log/proof/inclusion?index=0&tree_size=${target}`)).json();
  const coldMs = nowMs() - c0;
  const inclusionMs = [];
  const consistencyMs = [];
  const tileMs = [];
  for (let i = 0; i < 500; i++) {
    const index = Math.floor(Math.random() * target);
    let s = nowMs();
    const proof = await (await get(`/v1/provenance/log/proof/inclusion?index=${index}`)).json();
    inclusionMs.push(nowMs() - s);
    if (proof.tree_size !== target) throw new Error(`the log is ${proof.tree_size}, not ${target}`);
    s = nowMs();
    await (
      await get(
        `/v1/provenance/log/proof/consistency?from=${1 + Math.floor(Math.random() * (target - 1))}`,
      )
    ).json();
    consistencyMs.push(nowMs() - s);
    const tile = Math.floor(index / 256);
    const full = (tile + 1) * 256 <= target;
    s = nowMs();
    await (
      await get(
        `/v1/provenance/log/tile/0/${String(tile).padStart(3, '0')}${full ? '' : `.p/${target % 256}`}`,
      )
    ).arrayBuffer();
    tileMs.push(nowMs() - s);
  }
  ctx.figure({
    id: 'provenance.proofs',
    suite: 'Provenance',
    title: `Inclusion proof of a random entry at ${target} records, GET → body (p50 of 500; consistency proofs and level-0 tiles in the extra figures)`,
    unit: 'ms',
    samples: inclusionMs,
    extra: {
      first_read_ms: Number(coldMs.toFixed(1)),
      consistency_p50_ms: quantile(consistencyMs, 0.5),
      tile_p50_ms: quantile(tileMs, 0.5),
      inclusion_p99_ms: quantile(inclusionMs, 0.99),
    },
  });
  await on.stop();
}
