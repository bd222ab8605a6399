import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BlobReader } from '../../cas/blob-reader';
import { ResumableSha256 } from '../../cas/sha256-state';
import type { ArtifactEntity, AttachmentEntity } from '../../catalog/artifact.entity';
import { artifactFilename } from '../../catalog/catalog.service';
import {
  architectureMatches,
  incusArchitectureKnown,
  streamsArchitecture,
} from '../../incus/architecture';
import type { StreamsItemInput } from '../../streams/streams-item.entity';
import { productCollision, streamsSerial } from '../../streams/streams.projector';
import { StreamsService } from '../../streams/streams.service';
import { IncusMetadataError } from '../../incus/metadata';
import { IncusMetadataProbe } from '../../incus/metadata-tarball';
import { PermanentStepError } from '../step-plan';
import { IncusFingerprints } from './incus-fingerprints';
import type { StepContext } from './step-context';

export const METADATA_ATTACHMENT = 'incus.tar.xz';

export interface IndexPlan {
  readonly items: StreamsItemInput[];
  readonly skipped: { artifact_id: string; reason: string }[];
}

/** Bytes gathered before they are hashed (fewer, larger hand-overs to the pool). */
const HASH_RUN_BYTES = 1024 * 1024;

/**
 * Feeds the combined fingerprint's hash, which runs off the event loop (a mirror's transfers and
 * the API keep the loop; the hash of a 1 GiB root takes about a second of CPU).
 */
function hashSink(hash: ResumableSha256): Writable {
  let pending: Buffer[] = [];
  let bytes = 0;
  const hand = (done: (error?: Error | null) => void) => {
    if (bytes === 0) return done();
    const run = pending.length === 1 ? pending[0] : Buffer.concat(pending, bytes);
    pending = [];
    bytes = 0;
    const waiting = hash.update(run);
    if (waiting) waiting.then(() => done(), done);
    else done();
  };
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      pending.push(chunk);
      bytes += chunk.length;
      if (bytes < HASH_RUN_BYTES) done();
      else hand(done);
    },
    final: hand,
  });
}

/** The artifacts Incus can use: qcow2 (VM) or squashfs (container) with a metadata tarball. */
export function eligible(
  artifact: ArtifactEntity,
  attachments: AttachmentEntity[],
): AttachmentEntity | null {
  if (artifact.format !== 'qcow2' && artifact.format !== 'squashfs') return null;
  return attachments.find((a) => a.name === METADATA_ATTACHMENT) ?? null;
}

/**
 * incus_index: for each eligible artifact, the combined fingerprint sha256(metadata ‖ root) by
 * streaming both blobs once (parsing metadata.yaml on the way; the root not at all when the pair's
 * fingerprint is recorded already: IncusFingerprints), checked against the artifact;
 * then the version's projection rows are replaced in the step's fenced transaction.
 */
@Injectable()
export class IncusIndexStep {
  constructor(
    private readonly blobs: BlobReader,
    private readonly streams: StreamsService,
    private readonly fingerprints: IncusFingerprints,
  ) {}

  async compute(ctx: StepContext): Promise<IndexPlan> {
    const items: StreamsItemInput[] = [];
    const skipped: IndexPlan['skipped'] = [];
    for (const { artifact, attachments } of ctx.manifest.artifacts) {
      const meta = eligible(artifact, attachments);
      if (!meta) continue;
      if (!incusArchitectureKnown(artifact.architecture)) {
        skipped.push({
          artifact_id: artifact.id,
          reason: `Incus does not know the architecture ${artifact.architecture}`,
        });
        continue;
      }
      if (incusArchitectureKnown(artifact.variant)) {
        skipped.push({
          artifact_id: artifact.id,
          reason: `its variant ${artifact.variant} is an architecture name, which Incus would read as one`,
        });
        continue;
      }
      const hash = await ResumableSha256.create();
      try {
        items.push(await this.indexItem(ctx, artifact, meta, hash));
      } finally {
        hash.dispose();
      }
    }
    return this.planOf(items, skipped);
  }

  /** One artifact's projection row: its fingerprint, from its metadata and root bytes. */
  private async indexItem(
    ctx: StepContext,
    artifact: ArtifactEntity,
    meta: AttachmentEntity,
    hash: ResumableSha256,
  ): Promise<StreamsItemInput> {
    const { image, version } = ctx.manifest;
    const probe = new IncusMetadataProbe();
    await pipeline((await this.blobs.readBlob(meta.blobDigest)).stream, probe, hashSink(hash), {
      signal: ctx.signal,
    });
    let metadata;
    try {
      metadata = await probe.metadata;
    } catch (error) {
      if (error instanceof IncusMetadataError) {
        throw new PermanentStepError(
          `artifact ${artifact.id}: ${METADATA_ATTACHMENT} is unusable: ${error.message}`,
        );
      }
      throw error;
    }
    if (!architectureMatches(artifact.architecture, metadata.architecture)) {
      throw new PermanentStepError(
        `artifact ${artifact.id} is ${artifact.architecture} but its metadata.yaml says ${metadata.architecture}`,
      );
    }
    const combinedSha256 = await this.combined(ctx, meta, artifact, hash);

    const base = `v1/images/${image.name}/versions/${version.version}/artifacts/${artifact.id}`;
    const release = metadata.properties.release ?? version.version;
    return {
      artifactId: artifact.id,
      productKey: `${image.name}:${version.version}:${streamsArchitecture(artifact.architecture)}:${artifact.variant}`,
      imageType: artifact.format === 'qcow2' ? 'virtual-machine' : 'container',
      architecture: artifact.architecture,
      variant: artifact.variant,
      operatingSystem: metadata.properties.os ?? artifact.operatingSystem,
      release,
      releaseTitle: metadata.properties.release_title ?? release,
      description: metadata.properties.description ?? image.description ?? null,
      serial: streamsSerial(metadata.properties, metadata.creation_date),
      combinedSha256,
      metadataPath: `${base}/attachments/${meta.id}/download/${METADATA_ATTACHMENT}`,
      metadataSha256: meta.blobDigest.slice('sha256:'.length),
      metadataSizeBytes: meta.blobSizeBytes,
      rootFtype: artifact.format === 'qcow2' ? 'disk-kvm.img' : 'squashfs',
      rootPath: `${base}/download/${artifactFilename(image.name, version.version, artifact)}`,
      rootSha256: artifact.primaryBlobDigest.slice('sha256:'.length),
      rootSizeBytes: artifact.primaryBlobSizeBytes,
    };
  }

  /**
   * The combined fingerprint: recorded already for this pair of blobs (by an earlier publish or the
   * mirror transfer that brought the root), or `hash` (which has seen the metadata) continued over
   * the root, then recorded.
   */
  private async combined(
    ctx: StepContext,
    meta: AttachmentEntity,
    artifact: ArtifactEntity,
    hash: ResumableSha256,
  ): Promise<string> {
    const root = artifact.primaryBlobDigest;
    const known = await this.fingerprints.known(meta.blobDigest, root);
    if (known) return known;
    await pipeline((await this.blobs.readBlob(root)).stream, hashSink(hash), {
      signal: ctx.signal,
    });
    const fingerprint = await hash.hex();
    await this.fingerprints.record(meta.blobDigest, root, fingerprint);
    return fingerprint;
  }

  /** The rows, unless two artifacts would be one product's image of one type. */
  private planOf(items: StreamsItemInput[], skipped: IndexPlan['skipped']): IndexPlan {
    const collision = productCollision(items);
    if (collision) {
      throw new PermanentStepError(
        `artifacts ${collision.first} and ${collision.second} would both be the ${collision.imageType} image of product ` +
          `${collision.productKey}; give them different variants`,
      );
    }
    return { items, skipped };
  }

  async write(
    manager: EntityManager,
    ctx: StepContext,
    plan: IndexPlan,
  ): Promise<Record<string, unknown>> {
    await this.streams.replaceVersionItems(manager, ctx.manifest.version.id, plan.items);
    return {
      projected: plan.items.map((i) => ({
        artifact_id: i.artifactId,
        fingerprint: i.combinedSha256,
        type: i.imageType,
      })),
      skipped: plan.skipped,
    };
  }
}
