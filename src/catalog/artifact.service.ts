import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BlobProtection } from '../cas/blob-protection';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { DomainError } from '../common/errors/domain-error';
import { normalizeArchitecture } from '../incus/architecture';
import type { ArtifactEntity, AttachmentEntity } from './artifact.entity';
import { ArtifactRepository } from './artifact.repository';
import { AttachmentRepository } from './attachment.repository';
import type { ImageVersionEntity } from './image-version.entity';

/** The name under which the catalog tells the GC what manifests cite (CasModule.register). */
import { CatalogAccess } from './catalog-access';
import {
  artifactFilename,
  safeFilename,
  type ArtifactInput,
  type AttachmentInput,
  type BlobLocation,
} from './catalog.service';

/**
 * A draft's artifacts and attachments (each citing a trusted blob, protected from the GC in the
 * same transaction), and where the bytes of any visible one are.
 */
@Injectable()
export class ArtifactService {
  constructor(
    private readonly artifacts: ArtifactRepository,
    private readonly attachments: AttachmentRepository,
    private readonly protection: BlobProtection,
    private readonly access: CatalogAccess,
  ) {}

  async listArtifacts(
    principal: Principal | null,
    name: string,
    version: string,
  ): Promise<ArtifactEntity[]> {
    const { version: row } = await this.access.visibleVersion(principal, name, version);
    return this.artifacts.listForVersions([row.id]);
  }

  async getArtifact(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<{
    artifact: ArtifactEntity;
    attachments: AttachmentEntity[];
    published: boolean;
  }> {
    const { version: row } = await this.access.visibleVersion(principal, name, version);
    requireDownloadable(row);
    const artifact = await this.requireArtifact(name, version, row.id, artifactId);
    return {
      artifact,
      attachments: await this.attachments.listForArtifacts([artifact.id]),
      published: row.state === 'published',
    };
  }

  async createArtifact(
    actor: Actor,
    name: string,
    version: string,
    input: ArtifactInput,
  ): Promise<ArtifactEntity> {
    return this.access.mutate(async (manager) => {
      const row = await this.access.draftForChange(manager, name, version);
      await this.protection.protectBlob(manager, input.primaryBlobDigest);
      const artifact = await this.artifacts.insert(manager, {
        ...input,
        architecture: normalizeArchitecture(input.architecture),
        versionId: row.id,
      });
      await this.access.record(manager, actor, 'artifact.create', 'artifact', artifact.id, name, {
        version,
        format: artifact.format,
        architecture: artifact.architecture,
        digest: artifact.primaryBlobDigest,
      });
      return artifact;
    });
  }

  async deleteArtifact(
    actor: Actor,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<void> {
    await this.access.mutate(async (manager) => {
      const row = await this.access.draftForChange(manager, name, version);
      const artifact = await this.requireArtifact(name, version, row.id, artifactId, manager);
      await this.artifacts.delete(manager, artifact.id);
      await this.access.record(manager, actor, 'artifact.delete', 'artifact', artifact.id, name, {
        version,
      });
    });
  }

  async createAttachment(
    actor: Actor,
    name: string,
    version: string,
    artifactId: string,
    input: AttachmentInput,
  ): Promise<AttachmentEntity> {
    return this.access.mutate(async (manager) => {
      const row = await this.access.draftForChange(manager, name, version);
      const artifact = await this.requireArtifact(name, version, row.id, artifactId, manager);
      const attachment = await this.attachments.insert(manager, {
        ...input,
        artifactId: artifact.id,
      });
      await this.access.record(
        manager,
        actor,
        'attachment.create',
        'attachment',
        attachment.id,
        name,
        {
          version,
          artifact_id: artifact.id,
          name: attachment.name,
          digest: attachment.blobDigest,
        },
      );
      return attachment;
    });
  }

  async deleteAttachment(
    actor: Actor,
    name: string,
    version: string,
    artifactId: string,
    attachmentId: string,
  ): Promise<void> {
    await this.access.mutate(async (manager) => {
      const row = await this.access.draftForChange(manager, name, version);
      const artifact = await this.artifacts.findInVersion(row.id, artifactId, manager);
      const attachment =
        artifact && (await this.attachments.findOnArtifact(artifact.id, attachmentId, manager));
      if (!attachment)
        throw new DomainError(
          'ATTACHMENT_NOT_FOUND',
          `Artifact ${artifactId} has no attachment ${attachmentId}.`,
        );
      await this.attachments.delete(manager, attachment.id);
      await this.access.record(
        manager,
        actor,
        'attachment.delete',
        'attachment',
        attachment.id,
        name,
        {
          version,
          artifact_id: artifactId,
        },
      );
    });
  }

  async locateArtifactBlob(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<BlobLocation> {
    const { version: row } = await this.access.visibleVersion(principal, name, version);
    requireDownloadable(row);
    const artifact = await this.requireArtifact(name, version, row.id, artifactId);
    return {
      digest: artifact.primaryBlobDigest,
      sizeBytes: artifact.primaryBlobSizeBytes,
      mediaType: artifact.primaryMediaType,
      filename: artifactFilename(name, version, artifact),
      published: row.state === 'published',
      lastModified: row.publishedAt ?? artifact.createdAt,
    };
  }

  async locateAttachmentBlob(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
    attachmentId: string,
  ): Promise<BlobLocation> {
    const { version: row } = await this.access.visibleVersion(principal, name, version);
    requireDownloadable(row);
    const artifact = await this.artifacts.findInVersion(row.id, artifactId);
    const attachment =
      artifact && (await this.attachments.findOnArtifact(artifact.id, attachmentId));
    if (!attachment)
      throw new DomainError(
        'ATTACHMENT_NOT_FOUND',
        `Artifact ${artifactId} has no attachment ${attachmentId}.`,
      );
    return {
      digest: attachment.blobDigest,
      sizeBytes: attachment.blobSizeBytes,
      mediaType: attachment.mediaType,
      filename: safeFilename(attachment.name),
      published: row.state === 'published',
      lastModified: row.publishedAt ?? attachment.createdAt,
    };
  }

  /** The artifact of a version, or ARTIFACT_NOT_FOUND naming image and version. */
  private async requireArtifact(
    name: string,
    version: string,
    versionId: string,
    artifactId: string,
    manager?: EntityManager,
  ): Promise<ArtifactEntity> {
    const artifact = await this.artifacts.findInVersion(versionId, artifactId, manager);
    if (!artifact)
      throw new DomainError(
        'ARTIFACT_NOT_FOUND',
        `Version ${version} of ${name} has no artifact ${artifactId}.`,
      );
    return artifact;
  }
}

/**
 * A withdrawn version's files stay downloadable for the grace after its withdrawal (hosts that
 * read the documents just before it), unless it was withdrawn immediately; then 410.
 */
function requireDownloadable(row: ImageVersionEntity): void {
  if (row.state !== 'withdrawn') return;
  const graceOver = row.purgedAt !== null || (row.purgeAfter?.getTime() ?? 0) <= Date.now();
  if (row.withdrawnImmediate || graceOver)
    throw new DomainError(
      'VERSION_WITHDRAWN',
      `Version ${row.version} was withdrawn (${row.withdrawnReason ?? 'no reason given'}); ` +
        'its files are no longer served.',
    );
}
