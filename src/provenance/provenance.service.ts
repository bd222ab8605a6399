import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../auth/principal';
import type { Manifest } from '../catalog/catalog.service';
import { CatalogService } from '../catalog/catalog.service';
import { ManifestResponseDto } from '../catalog/dto/catalog.response.dto';
import { DomainError } from '../common/errors/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { StreamsService } from '../streams/streams.service';
import { IN_TOTO_PAYLOAD_TYPE, signEnvelope, type DsseEnvelope } from '../transparency/dsse';
import {
  envelopeBytes,
  logEntryFor,
  publicationStatement,
  statementBytes,
  withdrawalStatement,
  type ManifestJson,
  type Statement,
} from '../transparency/records';
import { SigningKeys } from './signing-keys';
import { TransparencyLog, type LogEntryRow, type RecordKind } from './transparency-log';

export interface Party {
  readonly id: string;
  readonly name: string | null;
}

/** A record as served: the envelope, where it sits in the log, and its Sigstore bundle. */
export interface ServedRecord {
  readonly kind: RecordKind;
  readonly logIndex: number;
  readonly integratedAt: Date;
  readonly envelope: DsseEnvelope;
  readonly bundle: Record<string, unknown>;
}

const manifestJson = (m: Manifest): ManifestJson =>
  JSON.parse(JSON.stringify(ManifestResponseDto.of(m))) as ManifestJson;

/**
 * Publication and withdrawal records: an in-toto statement of what the version ships, signed as
 * a DSSE envelope with the deployment's key and appended to the transparency log, in the
 * transaction that publishes or withdraws the version (so neither happens without its record).
 */
@Injectable()
export class ProvenanceService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeys,
    private readonly log: TransparencyLog,
    private readonly streams: StreamsService,
    private readonly catalog: CatalogService,
  ) {}

  /**
   * Records the publication of a version whose projection incus_index has written; null when
   * records are turned off (IMGSRV_PROVENANCE_RECORDS=false).
   */
  async recordPublication(
    manager: EntityManager,
    manifest: Manifest,
    facts: { jobId: string | null; publisher: Party | null; publishedAt: Date },
  ): Promise<number | null> {
    if (!this.config.provenance.records) return null;
    const fingerprints = await this.streams.fingerprintsIn(manager, manifest.version.id);
    const statement = publicationStatement(manifestJson(manifest), fingerprints, {
      publisher: facts.publisher,
      publishedAt: facts.publishedAt.toISOString(),
      jobId: facts.jobId,
      ...(facts.jobId === null && { recordedAt: new Date().toISOString() }),
    });
    return this.append(manager, 'publication', manifest, statement);
  }

  /** Records a withdrawal; its subjects are those its publication record named. */
  async recordWithdrawal(
    manager: EntityManager,
    manifest: Manifest,
    facts: { by: Party | null; at: Date; reason: string; immediate: boolean },
  ): Promise<number | null> {
    if (!this.config.provenance.records) return null;
    const published = (await this.log.entriesOfVersion(manifest.version.id, manager)).find(
      (e) => e.kind === 'publication',
    );
    let fingerprints = await this.streams.fingerprintsIn(manager, manifest.version.id);
    if (published) {
      const statement = JSON.parse(
        Buffer.from((JSON.parse(published.envelope) as DsseEnvelope).payload, 'base64').toString(),
      ) as Statement;
      fingerprints = new Map(
        statement.subject
          .filter((s) => s.name.startsWith('incus-fingerprint/'))
          .map((s) => [s.name.slice('incus-fingerprint/'.length), s.digest.sha256]),
      );
    }
    const statement = withdrawalStatement(manifestJson(manifest), fingerprints, {
      withdrawnBy: facts.by,
      withdrawnAt: facts.at.toISOString(),
      reason: facts.reason,
      immediate: facts.immediate,
    });
    return this.append(manager, 'withdrawal', manifest, statement);
  }

  private async append(
    manager: EntityManager,
    kind: RecordKind,
    manifest: Manifest,
    statement: Statement,
  ): Promise<number> {
    const key = this.keys.current;
    const envelope = signEnvelope(
      IN_TOTO_PAYLOAD_TYPE,
      statementBytes(statement),
      key.keyId,
      key.privateKey,
    );
    const appended = await this.log.append(manager, {
      kind,
      versionId: manifest.version.id,
      imageName: manifest.image.name,
      version: manifest.version.version,
      entry: logEntryFor(envelope, key.publicKeyPem),
      envelope: envelopeBytes(envelope).toString('utf8'),
      keyId: key.keyId,
    });
    return appended.logIndex;
  }

  /** The records of a version the principal may read (404 for drafts and unknown versions). */
  async recordsOf(
    principal: Principal | null,
    name: string,
    version: string,
  ): Promise<ServedRecord[]> {
    const manifest = await this.catalog.getManifest(principal, name, version);
    const rows = await this.log.entriesOfVersion(manifest.version.id);
    if (rows.length === 0)
      throw new DomainError(
        'PROVENANCE_NOT_FOUND',
        `Version ${version} of ${name} is ${manifest.version.state}; it has no publication record.`,
      );
    const checkpoint = await this.log.latestCheckpoint();
    const tree = await this.log.treeAt(checkpoint);
    return rows.map((row) => {
      const envelope = JSON.parse(row.envelope) as DsseEnvelope;
      const hashes = tree.inclusionProof(row.logIndex, checkpoint.treeSize);
      return {
        kind: row.kind,
        logIndex: row.logIndex,
        integratedAt: row.integratedAt,
        envelope,
        bundle: this.bundle(row, envelope, {
          treeSize: checkpoint.treeSize,
          root: tree.root(checkpoint.treeSize),
          hashes,
          note: checkpoint.note,
        }),
      };
    });
  }

  /**
   * A Sigstore bundle v0.3: the envelope, a hint naming the key, and the log entry with its
   * inclusion proof and the checkpoint it reaches. Protobuf JSON: 64-bit integers as strings,
   * bytes as base64.
   */
  private bundle(
    row: LogEntryRow,
    envelope: DsseEnvelope,
    proof: { treeSize: number; root: Buffer; hashes: Buffer[]; note: string },
  ): Record<string, unknown> {
    const key = this.keys.current;
    return {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        publicKey: { hint: row.keyId },
        tlogEntries: [
          {
            logIndex: String(row.logIndex),
            logId: { keyId: key.logId.toString('base64') },
            kindVersion: { kind: 'dsse', version: '0.0.1' },
            integratedTime: String(Math.floor(row.integratedAt.getTime() / 1000)),
            inclusionProof: {
              logIndex: String(row.logIndex),
              rootHash: proof.root.toString('base64'),
              treeSize: String(proof.treeSize),
              hashes: proof.hashes.map((h) => h.toString('base64')),
              checkpoint: { envelope: proof.note },
            },
            canonicalizedBody: row.entry.toString('base64'),
          },
        ],
      },
      dsseEnvelope: {
        payload: envelope.payload,
        payloadType: envelope.payloadType,
        signatures: envelope.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid })),
      },
    };
  }
}
