import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, pgError } from '../database/pg-errors';
import { ArtifactRepository } from './artifact.repository';
import { AttachmentRepository } from './attachment.repository';
import { ImageVersionEntity } from './image-version.entity';
import { ImageVersionRepository } from './image-version.repository';
import { lifecycleRefusal } from './lifecycle-refusals';
import { ImageEntity } from './image.entity';
import { ImageRepository } from './image.repository';

/** The name under which the catalog tells the GC what manifests cite (CasModule.register). */
import type { Manifest } from './catalog.service';

const UNIQUE_CODES = {
  uq_image_name: ['IMAGE_EXISTS', 'An image with that name exists.'],
  uq_image_version: ['VERSION_EXISTS', 'That version of the image exists.'],
  uq_artifact_identity: [
    'ARTIFACT_EXISTS',
    'The version has an artifact with that variant, operating system, architecture and format.',
  ],
  uq_attachment_name: ['ATTACHMENT_EXISTS', 'The artifact has an attachment with that name.'],
} as const;

/**
 * What the catalog's use cases share: who may see an image or version, the draft a change needs
 * (share-locked against a concurrent publish), a manifest read, the audit record, and the
 * transaction that turns constraint violations and trigger refusals into the conflicts they
 * stand for.
 */
@Injectable()
export class CatalogAccess {
  constructor(
    private readonly dataSource: DataSource,
    private readonly images: ImageRepository,
    private readonly versions: ImageVersionRepository,
    private readonly artifacts: ArtifactRepository,
    private readonly attachments: AttachmentRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  canRead(principal: Principal | null, image: string): boolean {
    return principal?.can('content.read', image) ?? false;
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

  async visibleVersion(
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

  async requireImage(name: string, manager: EntityManager): Promise<ImageEntity> {
    const image = await this.images.findByName(name, manager);
    if (!image) throw new DomainError('IMAGE_NOT_FOUND', `No image is called ${name}.`);
    return image;
  }

  /** The draft, share-locked so that a concurrent publish waits for this change (or wins first). */
  async draftForChange(
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

  requireDraft(row: ImageVersionEntity): ImageVersionEntity {
    if (row.state !== 'draft') {
      throw new DomainError(
        'VERSION_NOT_DRAFT',
        `Version ${row.version} is ${row.state}; only drafts change.`,
        { state: row.state },
      );
    }
    return row;
  }

  record(
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
  async mutate<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
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

  async manifestOf(
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
}
