import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { BlobReferenceRegistry } from '../cas/blob-references';
import { BlobProtection } from '../cas/blob-protection';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { scopePatterns } from '../auth/scope';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, pgError } from '../database/pg-errors';
import { normalizeArchitecture } from '../incus/architecture';
import type { ArtifactEntity, ArtifactFormat, AttachmentEntity } from './artifact.entity';
import { ArtifactRepository } from './artifact.repository';
import { AttachmentRepository } from './attachment.repository';
import { ImageVersionEntity, type VersionState } from './image-version.entity';
import { ImageVersionRepository } from './image-version.repository';
import { lifecycleRefusal } from './lifecycle-refusals';
import { ImageEntity } from './image.entity';
import { ImageRepository } from './image.repository';

/** The name under which the catalog tells the GC what manifests cite (CasModule.register). */
export const CATALOG_BLOB_REFERENCES = 'catalog.manifests';

export interface Manifest {
  readonly image: ImageEntity;
  readonly version: ImageVersionEntity;
  readonly artifacts: {
    readonly artifact: ArtifactEntity;
    readonly attachments: AttachmentEntity[];
  }[];
}

export interface ArtifactInput {
  readonly variant: string;
  readonly operatingSystem: string;
  readonly architecture: string;
  readonly format: ArtifactFormat;
  readonly primaryBlobDigest: string;
  readonly primaryBlobSizeBytes: number;
  readonly primaryMediaType: string;
}

export interface AttachmentInput {
  readonly name: string;
  readonly mediaType: string;
  readonly blobDigest: string;
  readonly blobSizeBytes: number;
}

/** What a download needs to know about the bytes it serves. */
export interface BlobLocation {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly filename: string;
  readonly published: boolean;
  readonly lastModified: Date;
}

const UNIQUE_CODES = {
  uq_image_name: ['IMAGE_EXISTS', 'An image with that name exists.'],
  uq_image_version: ['VERSION_EXISTS', 'That version of the image exists.'],
  uq_artifact_identity: [
    'ARTIFACT_EXISTS',
    'The version has an artifact with that variant, operating system, architecture and format.',
  ],
  uq_attachment_name: ['ATTACHMENT_EXISTS', 'The artifact has an attachment with that name.'],
} as const;

const EXTENSIONS: Record<ArtifactFormat, string> = {
  qcow2: 'qcow2',
  squashfs: 'squashfs',
  raw: 'img',
  'raw.gz': 'img.gz',
};

/** A file name safe in a Content-Disposition header and on any filesystem. */
export function safeFilename(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._+-]+/g, '_').replace(/^[._]+/, '');
  return (clean || 'download').slice(0, 200);
}

export function artifactFilename(image: string, version: string, artifact: ArtifactEntity): string {
  const variant = artifact.variant === 'default' ? '' : `-${artifact.variant}`;
  return safeFilename(
    `${image}-${version}-${artifact.architecture}${variant}.${EXTENSIONS[artifact.format]}`,
  );
}

/**
 * Images, versions and their manifests. Visibility: a caller with content.read on the image sees
 * everything; others (anonymous included, while public reads are on) see published versions only,
 * and get 404 for the rest. Every mutation is audited in its own transaction.
 */
@Injectable()
export class CatalogService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly images: ImageRepository,
    private readonly versions: ImageVersionRepository,
    private readonly artifacts: ArtifactRepository,
    private readonly attachments: AttachmentRepository,
    private readonly audit: AuditService,
    private readonly protection: BlobProtection,
    private readonly references: BlobReferenceRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Tells the CAS garbage collector which blobs manifests cite (drafts included). */
  onModuleInit(): void {
    this.references.register({
      name: CATALOG_BLOB_REFERENCES,
      citedDigests: async (manager, digests) =>
        new Set(await this.artifacts.citedAmong(manager, digests)),
      imagesCiting: async (digest) =>
        (await this.artifacts.citationsOf(digest)).map((c) => c.imageName),
    });
  }

  /** Whether a published version cites the digest (blobs are public only then). */
  isPublishedDigest(digest: string): Promise<boolean> {
    return this.artifacts.publishedCites(digest);
  }

  /**
   * May the caller read this blob by digest, and is it published? Only when a version it may read
   * cites the blob (a published one, or a draft of an image in its content.read scope), or it began
   * an upload of the blob and no version cites it yet; null otherwise, whether or not the blob
   * exists, so a caller learns nothing of other images' content.
   */
  async blobAccess(
    principal: Principal | null,
    digest: string,
    uploadedBy: (principalId: string) => Promise<boolean>,
  ): Promise<{ published: boolean } | null> {
    const citations = await this.artifacts.citationsOf(digest);
    const visible = citations.filter(
      (c) =>
        this.canRead(principal, c.imageName) ||
        (c.state === 'published' && this.config.auth.publicRead),
    );
    if (visible.length > 0) return { published: visible.some((c) => c.state === 'published') };
    if (citations.length === 0 && principal && (await uploadedBy(principal.id)))
      return { published: false };
    return null;
  }

  private canRead(principal: Principal | null, image: string): boolean {
    return principal?.can('content.read', image) ?? false;
  }

  async listImages(
    principal: Principal | null,
    limit: number,
    cursor?: string,
  ): Promise<Page<ImageEntity>> {
    const readablePatterns = scopePatterns(principal, 'content.read');
    const rows = await this.images.list(
      { readablePatterns, publishedVisible: this.config.auth.publicRead },
      limit,
      cursor,
    );
    return pageOf(rows, limit, (i) => [i.name]);
  }

  /** The image, if the caller may see it (404 otherwise). */
  async getImage(principal: Principal | null, name: string): Promise<ImageEntity> {
    const image = await this.images.findByName(name);
    if (
      image &&
      (this.canRead(principal, name) ||
        (this.config.auth.publicRead && (await this.images.hasPublishedVersion(image.id))))
    ) {
      return image;
    }
    throw new DomainError('IMAGE_NOT_FOUND', `No image is called ${name}.`);
  }

  async createImage(
    actor: Actor,
    input: { name: string; displayName: string | null; description: string | null },
  ): Promise<ImageEntity> {
    return this.mutate(async (manager) => {
      const image = await this.images.insert(manager, {
        ...input,
        createdBy: actor.principal?.id ?? null,
      });
      await this.record(manager, actor, 'image.create', 'image', image.id, image.name, {});
      return image;
    });
  }

  async updateImage(
    actor: Actor,
    name: string,
    fields: { displayName?: string | null; description?: string | null },
  ): Promise<ImageEntity> {
    return this.mutate(async (manager) => {
      const image = await this.requireImage(name, manager);
      const updated = await this.images.update(manager, image.id, fields);
      await this.record(manager, actor, 'image.update', 'image', image.id, name, {
        fields: Object.keys(fields).map((k) => (k === 'displayName' ? 'display_name' : k)),
      });
      return updated;
    });
  }

  async listVersions(
    principal: Principal | null,
    name: string,
    state: VersionState | undefined,
    limit: number,
    cursor?: string,
  ): Promise<Page<ImageVersionEntity>> {
    const image = await this.getImage(principal, name);
    const visible: VersionState[] = this.canRead(principal, name)
      ? ['draft', 'publishing', 'published']
      : ['published'];
    const states = state ? visible.filter((s) => s === state) : visible;
    if (states.length === 0) return { items: [], nextCursor: null };
    const rows = await this.versions.list(image.id, states, limit, cursor);
    return pageOf(rows, limit, (v) => [v.createdAt.toISOString(), v.id]);
  }

  async createVersion(actor: Actor, name: string, version: string): Promise<ImageVersionEntity> {
    return this.mutate(async (manager) => {
      const image = await this.requireImage(name, manager);
      const row = await this.versions.insert(manager, {
        imageId: image.id,
        version,
        createdBy: actor.principal?.id ?? null,
      });
      await this.record(manager, actor, 'version.create', 'image_version', row.id, name, {
        version,
      });
      return row;
    });
  }

  async deleteVersion(actor: Actor, name: string, version: string): Promise<void> {
    await this.mutate(async (manager) => {
      const image = await this.requireImage(name, manager);
      const row = await this.versions.findForUpdate(manager, image.id, version);
      if (!row)
        throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
      this.requireDraft(row);
      await this.versions.delete(manager, row.id);
      await this.record(manager, actor, 'version.delete', 'image_version', row.id, name, {
        version,
      });
    });
  }

  /** The version and its manifest, if the caller may see it. */
  async getManifest(principal: Principal | null, name: string, version: string): Promise<Manifest> {
    const { image, version: row } = await this.visibleVersion(principal, name, version);
    return this.manifestOf(image, row);
  }

  /**
   * The manifest named by a ref: a published version of that name, else (once aliases exist)
   * the version an alias points to.
   */
  async resolveRef(principal: Principal | null, name: string, ref: string): Promise<Manifest> {
    const image = await this.getImage(principal, name);
    const row = await this.versions.find(image.id, ref);
    if (row && row.state === 'published') return this.manifestOf(image, row);
    throw new DomainError(
      'REF_NOT_FOUND',
      `Image ${name} has no published version or alias called ${ref}.`,
    );
  }

  async listArtifacts(
    principal: Principal | null,
    name: string,
    version: string,
  ): Promise<ArtifactEntity[]> {
    const { version: row } = await this.visibleVersion(principal, name, version);
    return this.artifacts.listForVersions([row.id]);
  }

  async getArtifact(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<{ artifact: ArtifactEntity; attachments: AttachmentEntity[] }> {
    const { version: row } = await this.visibleVersion(principal, name, version);
    const artifact = await this.artifacts.findInVersion(row.id, artifactId);
    if (!artifact)
      throw new DomainError(
        'ARTIFACT_NOT_FOUND',
        `Version ${version} of ${name} has no artifact ${artifactId}.`,
      );
    return { artifact, attachments: await this.attachments.listForArtifacts([artifact.id]) };
  }

  async createArtifact(
    actor: Actor,
    name: string,
    version: string,
    input: ArtifactInput,
  ): Promise<ArtifactEntity> {
    return this.mutate(async (manager) => {
      const row = await this.draftForChange(manager, name, version);
      await this.protection.protectBlob(manager, input.primaryBlobDigest);
      const artifact = await this.artifacts.insert(manager, {
        ...input,
        architecture: normalizeArchitecture(input.architecture),
        versionId: row.id,
      });
      await this.record(manager, actor, 'artifact.create', 'artifact', artifact.id, name, {
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
    await this.mutate(async (manager) => {
      const row = await this.draftForChange(manager, name, version);
      const artifact = await this.artifacts.findInVersion(row.id, artifactId, manager);
      if (!artifact)
        throw new DomainError(
          'ARTIFACT_NOT_FOUND',
          `Version ${version} of ${name} has no artifact ${artifactId}.`,
        );
      await this.artifacts.delete(manager, artifact.id);
      await this.record(manager, actor, 'artifact.delete', 'artifact', artifact.id, name, {
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
    return this.mutate(async (manager) => {
      const row = await this.draftForChange(manager, name, version);
      const artifact = await this.artifacts.findInVersion(row.id, artifactId, manager);
      if (!artifact)
        throw new DomainError(
          'ARTIFACT_NOT_FOUND',
          `Version ${version} of ${name} has no artifact ${artifactId}.`,
        );
      const attachment = await this.attachments.insert(manager, {
        ...input,
        artifactId: artifact.id,
      });
      await this.record(manager, actor, 'attachment.create', 'attachment', attachment.id, name, {
        version,
        artifact_id: artifact.id,
        name: attachment.name,
        digest: attachment.blobDigest,
      });
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
    await this.mutate(async (manager) => {
      const row = await this.draftForChange(manager, name, version);
      const artifact = await this.artifacts.findInVersion(row.id, artifactId, manager);
      const attachment =
        artifact && (await this.attachments.findOnArtifact(artifact.id, attachmentId, manager));
      if (!attachment)
        throw new DomainError(
          'ATTACHMENT_NOT_FOUND',
          `Artifact ${artifactId} has no attachment ${attachmentId}.`,
        );
      await this.attachments.delete(manager, attachment.id);
      await this.record(manager, actor, 'attachment.delete', 'attachment', attachment.id, name, {
        version,
        artifact_id: artifactId,
      });
    });
  }

  async locateArtifactBlob(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<BlobLocation> {
    const { version: row } = await this.visibleVersion(principal, name, version);
    const artifact = await this.artifacts.findInVersion(row.id, artifactId);
    if (!artifact)
      throw new DomainError(
        'ARTIFACT_NOT_FOUND',
        `Version ${version} of ${name} has no artifact ${artifactId}.`,
      );
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
    const { version: row } = await this.visibleVersion(principal, name, version);
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

  /**
   * For publish: locks the version row (FOR UPDATE) inside the caller's transaction and returns
   * it with its manifest.
   */
  async lockForPublish(manager: EntityManager, name: string, version: string): Promise<Manifest> {
    const image = await this.requireImage(name, manager);
    const row = await this.versions.findForUpdate(manager, image.id, version);
    if (!row)
      throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
    return this.manifestOf(image, row, manager);
  }

  /** The image by name in the caller's transaction, whatever the caller may see (404 if none). */
  imageIn(manager: EntityManager, name: string): Promise<ImageEntity> {
    return this.requireImage(name, manager);
  }

  /** For aliases: the image and the named version (any state), under the caller's transaction. */
  async findVersionForAlias(
    manager: EntityManager,
    name: string,
    version: string,
  ): Promise<{ image: ImageEntity; version: ImageVersionEntity | null }> {
    const image = await this.requireImage(name, manager);
    return { image, version: await this.versions.find(image.id, version, manager) };
  }

  /** The manifest of a version by id (publish steps), read through `manager` when given. */
  async manifestById(
    versionId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Manifest> {
    const row = await manager.getRepository(ImageVersionEntity).findOneByOrFail({ id: versionId });
    const image = await manager.getRepository(ImageEntity).findOneByOrFail({ id: row.imageId });
    return this.manifestOf(image, row, manager);
  }

  private async manifestOf(
    image: ImageEntity,
    version: ImageVersionEntity,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Manifest> {
    const artifacts = await this.artifacts.listForVersions([version.id], manager);
    const attachments = await this.attachments.listForArtifacts(
      artifacts.map((a) => a.id),
      manager,
    );
    return {
      image,
      version,
      artifacts: artifacts.map((artifact) => ({
        artifact,
        attachments: attachments.filter((a) => a.artifactId === artifact.id),
      })),
    };
  }

  private async visibleVersion(
    principal: Principal | null,
    name: string,
    version: string,
  ): Promise<{ image: ImageEntity; version: ImageVersionEntity }> {
    const image = await this.getImage(principal, name);
    const row = await this.versions.find(image.id, version);
    if (row && (row.state === 'published' || this.canRead(principal, name)))
      return { image, version: row };
    throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
  }

  private async requireImage(name: string, manager: EntityManager): Promise<ImageEntity> {
    const image = await this.images.findByName(name, manager);
    if (!image) throw new DomainError('IMAGE_NOT_FOUND', `No image is called ${name}.`);
    return image;
  }

  /** The draft, share-locked so that a concurrent publish waits for this change (or wins first). */
  private async draftForChange(
    manager: EntityManager,
    name: string,
    version: string,
  ): Promise<ImageVersionEntity> {
    const image = await this.requireImage(name, manager);
    const row = await this.versions.findForShare(manager, image.id, version);
    if (!row)
      throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
    return this.requireDraft(row);
  }

  private requireDraft(row: ImageVersionEntity): ImageVersionEntity {
    if (row.state !== 'draft') {
      throw new DomainError(
        'VERSION_NOT_DRAFT',
        `Version ${row.version} is ${row.state}; only drafts change.`,
        { state: row.state },
      );
    }
    return row;
  }

  private record(
    manager: EntityManager,
    actor: Actor,
    action: string,
    targetType: string,
    targetId: string,
    imageName: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    return this.audit.record(manager, { actor, action, targetType, targetId, imageName, detail });
  }

  /** A transaction whose constraint violations become the domain conflicts they stand for. */
  private async mutate<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      const { code, constraint } = pgError(error);
      if (code === UNIQUE_VIOLATION && constraint && constraint in UNIQUE_CODES) {
        const [errorCode, detail] = UNIQUE_CODES[constraint as keyof typeof UNIQUE_CODES];
        throw new DomainError(errorCode, detail);
      }
      // An attachment whose artifact a concurrent request deleted meanwhile.
      if (code === FOREIGN_KEY_VIOLATION && constraint === 'fk_attachment_artifact') {
        throw new DomainError('ARTIFACT_NOT_FOUND', 'The artifact was deleted meanwhile.');
      }
      throw lifecycleRefusal(error) ?? error;
    }
  }
}
