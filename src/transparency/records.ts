import { createHash } from 'node:crypto';
import { canonicalJson } from './jcs';
import type { DsseEnvelope } from './dsse';

/**
 * What imgsrv signs and logs for a version: an in-toto Statement v1 naming every byte the version
 * ships (artifacts, attachments, Incus fingerprints) with a predicate that ties them to the image,
 * version and the canonical digest of its manifest; and the log entry that commits to the signed
 * envelope (a Rekor `dsse` v0.0.1 body, so Sigstore verifiers read it as they read Rekor's).
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PUBLICATION_PREDICATE = 'https://imgsrv.dev/provenance/publication/v1';
export const WITHDRAWAL_PREDICATE = 'https://imgsrv.dev/provenance/withdrawal/v1';

/** The manifest as GET /v1/images/{name}/versions/{version} serves it (the parts used here). */
export interface ManifestJson {
  readonly image: { readonly name: string };
  readonly version: { readonly version: string };
  readonly artifacts: readonly {
    readonly artifact: {
      readonly id: string;
      readonly variant: string;
      readonly operating_system: string;
      readonly architecture: string;
      readonly format: string;
      readonly primary_blob_digest: string;
      readonly primary_blob_size_bytes: number;
      readonly primary_media_type: string;
    };
    readonly attachments: readonly {
      readonly id: string;
      readonly name: string;
      readonly media_type: string;
      readonly blob_digest: string;
      readonly blob_size_bytes: number;
    }[];
  }[];
}

const byKey =
  <T>(key: (v: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/**
 * The part of a manifest that publication freezes: image, version, every artifact and attachment
 * with its digest, size and meaning, in a fixed order. State, timestamps, display name and
 * description are left out: they may change after publication without changing a byte served.
 */
export function manifestCore(m: ManifestJson): unknown {
  return {
    image: m.image.name,
    version: m.version.version,
    artifacts: m.artifacts
      .map(({ artifact: a, attachments }) => ({
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
          .sort(byKey((t) => t.id)),
      }))
      .sort(byKey((a) => a.id)),
  };
}

/** `sha256:<hex>` of the RFC 8785 form of the manifest's frozen part. */
export function manifestDigest(m: ManifestJson): string {
  return `sha256:${createHash('sha256')
    .update(canonicalJson(manifestCore(m)), 'utf8')
    .digest('hex')}`;
}

export interface Subject {
  readonly name: string;
  readonly digest: { readonly sha256: string };
  readonly annotations?: Record<string, string>;
}

const hexOf = (digest: string) => digest.replace(/^sha256:/u, '');

/** One subject per artifact, attachment and Incus fingerprint (artifact id → fingerprint). */
export function subjectsOf(m: ManifestJson, fingerprints: ReadonlyMap<string, string>): Subject[] {
  const subjects: Subject[] = [];
  for (const { artifact: a, attachments } of m.artifacts) {
    subjects.push({
      name: `artifact/${a.id}`,
      digest: { sha256: hexOf(a.primary_blob_digest) },
      annotations: {
        variant: a.variant,
        operating_system: a.operating_system,
        architecture: a.architecture,
        format: a.format,
      },
    });
    for (const t of attachments)
      subjects.push({
        name: `attachment/${t.id}/${t.name}`,
        digest: { sha256: hexOf(t.blob_digest) },
        annotations: { artifact: a.id, name: t.name },
      });
    const fingerprint = fingerprints.get(a.id);
    if (fingerprint)
      subjects.push({
        name: `incus-fingerprint/${a.id}`,
        digest: { sha256: fingerprint },
        annotations: { artifact: a.id, variant: a.variant, architecture: a.architecture },
      });
  }
  return subjects;
}

export interface Statement {
  readonly _type: string;
  readonly subject: Subject[];
  readonly predicateType: string;
  readonly predicate: Record<string, unknown>;
}

export interface PublicationFacts {
  readonly publisher: { readonly id: string; readonly name: string | null } | null;
  readonly publishedAt: string;
  /** The publish job; null for a version recorded after the fact (backfill). */
  readonly jobId: string | null;
  /** When a record made after the fact was made; absent for one made by its publish. */
  readonly recordedAt?: string;
}

export function publicationStatement(
  m: ManifestJson,
  fingerprints: ReadonlyMap<string, string>,
  facts: PublicationFacts,
): Statement {
  return {
    _type: STATEMENT_TYPE,
    subject: subjectsOf(m, fingerprints),
    predicateType: PUBLICATION_PREDICATE,
    predicate: {
      image: m.image.name,
      version: m.version.version,
      manifest_digest: manifestDigest(m),
      publisher: facts.publisher,
      published_at: facts.publishedAt,
      job_id: facts.jobId,
      ...(facts.recordedAt !== undefined && { recorded_at: facts.recordedAt }),
    },
  };
}

export interface WithdrawalFacts {
  readonly withdrawnBy: { readonly id: string; readonly name: string | null } | null;
  readonly withdrawnAt: string;
  readonly reason: string;
  readonly immediate: boolean;
}

export function withdrawalStatement(
  m: ManifestJson,
  fingerprints: ReadonlyMap<string, string>,
  facts: WithdrawalFacts,
): Statement {
  return {
    _type: STATEMENT_TYPE,
    subject: subjectsOf(m, fingerprints),
    predicateType: WITHDRAWAL_PREDICATE,
    predicate: {
      image: m.image.name,
      version: m.version.version,
      manifest_digest: manifestDigest(m),
      withdrawn_by: facts.withdrawnBy,
      withdrawn_at: facts.withdrawnAt,
      reason: facts.reason,
      immediate: facts.immediate,
    },
  };
}

/** The bytes signed: the statement in RFC 8785 form. */
export function statementBytes(statement: Statement): Buffer {
  return Buffer.from(canonicalJson(statement), 'utf8');
}

export function envelopeBytes(envelope: DsseEnvelope): Buffer {
  return Buffer.from(canonicalJson(envelope), 'utf8');
}

/**
 * The log entry for an envelope: a Rekor `dsse` v0.0.1 body in RFC 8785 form, committing to the
 * envelope's and payload's SHA-256 and carrying the signature and the verifying key (PEM, base64).
 */
export function logEntryFor(envelope: DsseEnvelope, publicKeyPem: string): Buffer {
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256(envelopeBytes(envelope)) },
        payloadHash: {
          algorithm: 'sha256',
          value: sha256(Buffer.from(envelope.payload, 'base64')),
        },
        signatures: envelope.signatures.map((s) => ({
          signature: s.sig,
          verifier: Buffer.from(publicKeyPem, 'utf8').toString('base64'),
        })),
      },
    }),
    'utf8',
  );
}
