import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { DomainError } from '../common/errors/domain-error';
import { ImageVersionEntity } from './image-version.entity';
import { ImageVersionRepository } from './image-version.repository';
import { ImageEntity } from './image.entity';

/** The name under which the catalog tells the GC what manifests cite (CasModule.register). */
import { CatalogAccess } from './catalog-access';
import type { Manifest } from './catalog.service';

/**
 * The catalog as the modules after it use it (publish, aliases, events, the publish steps): the
 * manifest of a version by id, and versions locked or read inside the caller's transaction. The
 * HTTP use cases are CatalogService's and ArtifactService's.
 */
@Injectable()
export class CatalogPort {
  constructor(
    private readonly dataSource: DataSource,
    private readonly versions: ImageVersionRepository,
    private readonly access: CatalogAccess,
  ) {}

  /**
   * For publish: locks the version row (FOR UPDATE) inside the caller's transaction and returns
   * it with its manifest.
   */
  async lockForPublish(manager: EntityManager, name: string, version: string): Promise<Manifest> {
    const image = await this.access.requireImage(name, manager);
    const row = await this.versions.findForUpdate(manager, image.id, version);
    if (!row)
      throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
    return this.access.manifestOf(image, row, manager);
  }

  /** The image by name in the caller's transaction, whatever the caller may see (404 if none). */
  imageIn(manager: EntityManager, name: string): Promise<ImageEntity> {
    return this.access.requireImage(name, manager);
  }

  /**
   * Published and withdrawn versions in publication order, a page after `after` (for provenance's
   * backfill of versions published before records existed).
   */
  async servedVersions(
    after: { publishedAt: Date; id: string } | null,
    limit: number,
  ): Promise<{ id: string; publishedAt: Date; withdrawn: boolean }[]> {
    const rows = (await this.dataSource.query(
      `SELECT id, published_at, state FROM image_version
        WHERE state IN ('published', 'withdrawn')
          AND ($1::timestamptz IS NULL OR (published_at, id) > ($1::timestamptz, $2::uuid))
        ORDER BY published_at, id LIMIT $3`,
      [after?.publishedAt ?? null, after?.id ?? null, limit],
    )) as { id: string; published_at: Date; state: string }[];
    return rows.map((r) => ({
      id: r.id,
      publishedAt: r.published_at,
      withdrawn: r.state === 'withdrawn',
    }));
  }

  /**
   * A version row by id, locked FOR UPDATE in the caller's transaction; null when another
   * transaction holds it (SKIP LOCKED: the caller comes back later rather than wait).
   */
  async lockVersionIfFree(manager: EntityManager, id: string): Promise<ImageVersionEntity | null> {
    return manager
      .getRepository(ImageVersionEntity)
      .findOne({ where: { id }, lock: { mode: 'pessimistic_write', onLocked: 'skip_locked' } });
  }

  /** For aliases: the image and the named version (any state), under the caller's transaction. */
  async findVersionForAlias(
    manager: EntityManager,
    name: string,
    version: string,
  ): Promise<{ image: ImageEntity; version: ImageVersionEntity | null }> {
    const image = await this.access.requireImage(name, manager);
    return { image, version: await this.versions.find(image.id, version, manager) };
  }

  /**
   * A version's manifest by names, whatever its state and whoever asks (the mirror composing the
   * versions it copies); null when the image or the version does not exist.
   */
  async manifestIfAny(name: string, version: string): Promise<Manifest | null> {
    const manager = this.dataSource.manager;
    const image = await manager.getRepository(ImageEntity).findOneBy({ name });
    if (!image) return null;
    const row = await this.versions.find(image.id, version, manager);
    return row ? this.access.manifestOf(image, row, manager) : null;
  }

  /** The manifest of a version by id (publish steps), read through `manager` when given. */
  async manifestById(
    versionId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Manifest> {
    const row = await manager.getRepository(ImageVersionEntity).findOneByOrFail({ id: versionId });
    const image = await manager.getRepository(ImageEntity).findOneByOrFail({ id: row.imageId });
    return this.access.manifestOf(image, row, manager);
  }
}
