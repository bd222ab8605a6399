import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { call } from '../api';
import { trustPath } from '../config';
import { emitJson, note, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';
import { TrustStore, type TrustedServer } from '../trust-state';
import { envelopeSignedBy, type DsseEnvelope } from '../../../src/transparency/dsse';
import { leafHash, verifyConsistency, verifyInclusion } from '../../../src/transparency/merkle';
import {
  logEntryFor,
  manifestDigest,
  PUBLICATION_PREDICATE,
  WITHDRAWAL_PREDICATE,
  type ManifestJson,
  type Statement,
} from '../../../src/transparency/records';
import {
  noteSignedBy,
  parseCheckpointText,
  parseNote,
  publicKeyId,
  type Checkpoint,
} from '../../../src/transparency/signed-note';

export interface VerifyOptions {
  readonly files: readonly string[];
  readonly incusFingerprints: readonly string[];
  /** PEM files of the keys to trust (instead of those remembered or seen on first use). */
  readonly keyFiles: readonly string[];
}

interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

interface TrustedKey {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly pem: string;
}

function readKeyFile(file: string): TrustedKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--key ${file}: not a PEM public key (${(error as Error).message})`);
  }
  if (publicKey.asymmetricKeyType !== 'ed25519')
    throw new UsageError(`--key ${file}: not an Ed25519 key`);
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: publicKeyId(publicKey), publicKey, pem };
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    throw new UsageError(`--file ${path}: ${(error as Error).message}`);
  }
  return hash.digest('hex');
}

/** The checkpoint a note states, when one of the keys signed it under the origin. */
function signedCheckpoint(
  noteText: string,
  origin: string,
  keys: readonly TrustedKey[],
): Checkpoint | null {
  const parsed = parseNote(noteText);
  if (!parsed || !keys.some((k) => noteSignedBy(parsed, origin, k.publicKey))) return null;
  const checkpoint = parseCheckpointText(parsed.text);
  return checkpoint && checkpoint.origin === origin ? checkpoint : null;
}

const short = (hex: string) => hex.slice(0, 12);

/**
 * `imgsrv verify IMAGE VERSION [--file PATH ...] [--incus-fingerprint FP ...] [--key PEM ...]`:
 * checks the version's publication record without trusting the server's database or store: the
 * signature (by a key this client trusts), the record's inclusion in the transparency log, the
 * log's consistency with the newest checkpoint this client saw before, that the manifest served
 * now is the one recorded, and that given files and fingerprints are what the record names.
 */
export async function verify(
  ctx: CliContext,
  image: string,
  version: string,
  options: VerifyOptions,
): Promise<void> {
  const checks: Check[] = [];
  const add = (check: string, ok: boolean, detail: string) => {
    checks.push({ check, ok, detail });
    if (!ctx.json) say(ctx, `${ok ? 'ok  ' : 'FAIL'} ${check}: ${detail}`);
  };
  const store = new TrustStore(trustPath(ctx.env));
  const server = ctx.connection.url;
  const remembered = store.get(server);

  // Keys and origin: given, remembered, or trusted on first use.
  const published = await call(
    'reading the provenance keys',
    ctx.client.GET('/v1/provenance/keys', {}),
  );
  const origin = remembered?.origin ?? published.log_origin;
  if (published.log_origin !== origin)
    throw new CliError(
      `the log's origin is now ${published.log_origin}; you verified against ${origin} before ` +
        `(remove ${server} from ${trustPath(ctx.env)} only if the operator changed it on purpose)`,
      EXIT.unverified,
    );
  let keys: TrustedKey[];
  if (options.keyFiles.length > 0) keys = options.keyFiles.map(readKeyFile);
  else if (remembered)
    keys = Object.entries(remembered.keys).map(([keyId, pem]) => ({
      keyId,
      pem,
      publicKey: createPublicKey(pem),
    }));
  else {
    keys = published.keys.map((k) => {
      const publicKey = createPublicKey(k.public_key_pem);
      return { keyId: publicKeyId(publicKey), publicKey, pem: k.public_key_pem };
    });
    note(
      ctx,
      `trusting ${keys.length} key(s) of ${server} on first use: ${keys.map((k) => short(k.keyId)).join(', ')}`,
    );
  }

  // The newest checkpoint, signed by a trusted key.
  const noteText = await call(
    'reading the log checkpoint',
    ctx.client.GET('/v1/provenance/log/checkpoint', { parseAs: 'text' }),
  );
  const current = signedCheckpoint(noteText as unknown as string, origin, keys);
  if (!current) {
    add(
      'checkpoint',
      false,
      `the log's checkpoint is not signed by a key you trust under ${origin}`,
    );
    return finish(ctx, checks, null);
  }
  add('checkpoint', true, `${origin} at size ${current.size}, signed by a trusted key`);

  // Consistency with what this client saw before.
  const seen = remembered?.checkpoint;
  let consistent = true;
  if (seen) {
    const seenRoot = Buffer.from(seen.root, 'base64');
    if (seen.size > current.size) {
      consistent = false;
      add(
        'consistency',
        false,
        `the log shrank: you saw ${seen.size} entries before, it now has ${current.size} (entries were removed or the log was rolled back)`,
      );
    } else {
      const proof = await call(
        'reading a consistency proof',
        ctx.client.GET('/v1/provenance/log/proof/consistency', {
          params: { query: { from: seen.size, to: current.size } },
        }),
      );
      consistent = verifyConsistency(
        seen.size,
        current.size,
        seenRoot,
        current.root,
        proof.hashes.map((h) => Buffer.from(h, 'base64')),
      );
      add(
        'consistency',
        consistent,
        consistent
          ? `the log of size ${current.size} extends the one of size ${seen.size} you saw before`
          : `the log forked: the tree of size ${seen.size} you saw before (root ${seen.root}) is not a prefix of the current one of size ${current.size}`,
      );
    }
  }

  // The record: signature, subject, inclusion.
  const record = await call(
    `reading the provenance of ${image} ${version}`,
    ctx.client.GET('/v1/images/{name}/versions/{version}/provenance', {
      params: { path: { name: image, version } },
    }),
  );
  const checkRecord = async (
    label: string,
    served: { record: Record<string, unknown>; log_index: number },
    predicateType: string,
  ): Promise<Statement | null> => {
    const envelope = served.record as unknown as DsseEnvelope;
    const signer = keys.find((k) => envelope.signatures.some((s) => s.keyid === k.keyId));
    if (!signer) {
      add(
        `${label} signature`,
        false,
        `signed by key ${envelope.signatures.map((s) => s.keyid).join(', ')}, which you do not trust`,
      );
      return null;
    }
    if (!envelopeSignedBy(envelope, signer.publicKey)) {
      add(
        `${label} signature`,
        false,
        `the signature by key ${short(signer.keyId)} does not verify`,
      );
      return null;
    }
    add(`${label} signature`, true, `signed by key ${short(signer.keyId)}`);
    const statement = JSON.parse(
      Buffer.from(envelope.payload, 'base64').toString('utf8'),
    ) as Statement;
    const names =
      statement.predicateType === predicateType &&
      statement.predicate.image === image &&
      statement.predicate.version === version;
    add(
      `${label} subject`,
      names,
      names
        ? `${predicateType.split('/').slice(-2).join('/')} of ${image} ${version}`
        : `the record is a ${statement.predicateType} of ${String(statement.predicate.image)} ${String(statement.predicate.version)}`,
    );
    const leaf = leafHash(logEntryFor(envelope, signer.pem));
    const proof = await call(
      'reading an inclusion proof',
      ctx.client.GET('/v1/provenance/log/proof/inclusion', {
        params: { query: { index: served.log_index, tree_size: current.size } },
      }),
    );
    const included = verifyInclusion(
      served.log_index,
      current.size,
      leaf,
      proof.hashes.map((h) => Buffer.from(h, 'base64')),
      current.root,
    );
    add(
      `${label} in the log`,
      included,
      included
        ? `entry ${served.log_index} of the checkpoint of size ${current.size}`
        : `entry ${served.log_index} is not this record in the signed tree of size ${current.size}`,
    );
    return names ? statement : null;
  };
  const statement = await checkRecord('record', record, PUBLICATION_PREDICATE);

  // The manifest served now against the record.
  const manifest = (await call(
    `reading ${image} ${version}`,
    ctx.client.GET('/v1/images/{name}/versions/{version}', {
      params: { path: { name: image, version } },
    }),
  )) as unknown as ManifestJson;
  if (statement) compareManifest(statement, manifest, add);

  // Files and fingerprints against the subjects.
  const subjects = statement?.subject ?? [];
  for (const file of options.files) {
    const digest = await fileSha256(file);
    const subject = subjects.find((s) => s.digest.sha256 === digest);
    add(
      `file ${file}`,
      subject !== undefined,
      subject
        ? `sha256 ${short(digest)} is ${subject.name}`
        : `sha256 ${digest} is nothing the record of ${image} ${version} names`,
    );
  }
  for (const fingerprint of options.incusFingerprints) {
    const subject = subjects.find(
      (s) =>
        s.name.startsWith('incus-fingerprint/') && s.digest.sha256 === fingerprint.toLowerCase(),
    );
    add(
      `fingerprint ${short(fingerprint)}`,
      subject !== undefined,
      subject
        ? `the Incus fingerprint of ${subject.name}`
        : `not an Incus fingerprint the record names`,
    );
  }

  let withdrawn: { reason: string; at: string } | null = null;
  if (record.withdrawal) {
    const w = await checkRecord('withdrawal', record.withdrawal, WITHDRAWAL_PREDICATE);
    if (w) withdrawn = { reason: String(w.predicate.reason), at: String(w.predicate.withdrawn_at) };
  }

  // Remember what verified: the keys and, when the log was consistent, the newest checkpoint.
  if (checks.every((c) => c.ok) || consistent) {
    const next: TrustedServer = {
      origin,
      keys: Object.fromEntries(keys.map((k) => [k.keyId, k.pem])),
      checkpoint: consistent
        ? {
            size: current.size,
            root: current.root.toString('base64'),
            note: noteText as unknown as string,
          }
        : seen,
    };
    store.set(server, next);
  }
  finish(ctx, checks, withdrawn);
}

function compareManifest(
  statement: Statement,
  manifest: ManifestJson,
  add: (check: string, ok: boolean, detail: string) => void,
): void {
  const recorded = String(statement.predicate.manifest_digest);
  const now = manifestDigest(manifest);
  if (now === recorded) {
    add('manifest', true, `the manifest served now is the one recorded (${recorded.slice(0, 19)})`);
    return;
  }
  const byName = new Map(statement.subject.map((s) => [s.name, s.digest.sha256]));
  const changes: string[] = [];
  const seen = new Set<string>();
  for (const { artifact: a, attachments } of manifest.artifacts) {
    const name = `artifact/${a.id}`;
    seen.add(name);
    const was = byName.get(name);
    const is = a.primary_blob_digest.replace(/^sha256:/u, '');
    const label = `artifact ${a.id} (${a.variant} ${a.architecture} ${a.format})`;
    if (was === undefined) changes.push(`${label} is not in the record`);
    else if (was !== is)
      changes.push(`${label} is sha256:${is} now, the record says sha256:${was}`);
    for (const t of attachments) {
      const tname = `attachment/${t.id}/${t.name}`;
      seen.add(tname);
      const twas = byName.get(tname);
      const tis = t.blob_digest.replace(/^sha256:/u, '');
      if (twas === undefined)
        changes.push(`attachment ${t.name} of artifact ${a.id} is not in the record`);
      else if (twas !== tis)
        changes.push(
          `attachment ${t.name} of artifact ${a.id} is sha256:${tis} now, the record says sha256:${twas}`,
        );
    }
  }
  for (const name of byName.keys())
    if ((name.startsWith('artifact/') || name.startsWith('attachment/')) && !seen.has(name))
      changes.push(`${name} of the record is gone from the manifest`);
  if (changes.length === 0)
    changes.push(`a size, media type or other field changed (${now} now, ${recorded} recorded)`);
  add('manifest', false, `the manifest served now differs from the record: ${changes.join('; ')}`);
}

function finish(
  ctx: CliContext,
  checks: readonly Check[],
  withdrawn: { reason: string; at: string } | null,
): void {
  const verified = checks.every((c) => c.ok);
  if (ctx.json) emitJson(ctx, { verified, withdrawn, checks });
  else if (verified && withdrawn)
    say(ctx, `verified, but WITHDRAWN at ${withdrawn.at}: ${withdrawn.reason}`);
  else if (verified) say(ctx, 'verified');
  if (!verified)
    throw new CliError(
      `verification failed: ${checks
        .filter((c) => !c.ok)
        .map((c) => c.check)
        .join(', ')}`,
      EXIT.unverified,
    );
  if (withdrawn)
    throw new CliError(`the version was withdrawn: ${withdrawn.reason}`, EXIT.withdrawn);
}
