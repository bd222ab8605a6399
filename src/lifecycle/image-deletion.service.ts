import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import { CatalogPort } from '../catalog/catalog-port';
import { DomainError } from '../common/errors/domain-error';
import { StreamsService } from '../streams/streams.service';

/**
 * Deletes an image whose versions are all drafts or withdrawn: one transaction locks the image,
 * checks its versions, names the image it deletes (imgsrv.deleting_image, which the version guard
 * requires before it lets a withdrawn version go), deletes the versions (their manifests, jobs and
 * projection rows cascade), then the image (its aliases and retention policy cascade), and audits
 * it. The blobs the versions cited are left to the garbage collector.
 */
@Injectable()
export class ImageDeletionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly catalog: CatalogPort,
    private readonly streams: StreamsService,
    private readonly audit: AuditService,
  ) {}

  async delete(actor: Actor, name: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const image = await this.catalog.imageIn(manager, name);
      await manager.query(`SELECT 1 FROM image WHERE id = $1 FOR UPDATE`, [image.id]);
      const states: { state: string; count: string }[] = await manager.query(
        `SELECT state, count(*) AS count FROM image_version WHERE image_id = $1 GROUP BY state`,
        [image.id],
      );
      const live = states.filter((s) => s.state === 'published' || s.state === 'publishing');
      if (live.length > 0)
        throw new DomainError(
          'IMAGE_NOT_EMPTY',
          `Image ${name} has ${live.map((s) => `${s.count} ${s.state}`).join(' and ')} ` +
            'version(s); withdraw them (or cancel the publish) first.',
          { versions: Object.fromEntries(live.map((s) => [s.state, Number(s.count)])) },
        );
      await manager.query(`SELECT set_config('imgsrv.deleting_image', $1, true)`, [image.id]);
      await manager.query(`DELETE FROM image_version WHERE image_id = $1`, [image.id]);
      await manager.query(`DELETE FROM image WHERE id = $1`, [image.id]);
      await this.streams.bumpRevision(manager);
      await this.audit.record(manager, {
        actor,
        action: 'image.delete',
        targetType: 'image',
        targetId: image.id,
        imageName: name,
        detail: { versions: Object.fromEntries(states.map((s) => [s.state, Number(s.count)])) },
      });
    });
  }
}
