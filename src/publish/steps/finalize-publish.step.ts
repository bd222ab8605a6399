import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CatalogPort } from '../../catalog/catalog-port';
import { VersionLifecycleService } from '../../catalog/version-lifecycle.service';
import { versionPublishedData } from '../../events/event-payload';
import { EventsService, type RecordedEvent } from '../../events/events.service';
import { ProvenanceService } from '../../provenance/provenance.service';
import { StreamsService } from '../../streams/streams.service';
import type { StepContext } from './step-context';

/**
 * Marks the version published, signs its publication record and appends it to the transparency
 * log, bumps the streams revision and records `version.published`, all in the step's fenced
 * transaction: a version is never published without its record, and a crash before the commit
 * leaves the whole step to its retry.
 */
@Injectable()
export class FinalizePublishStep {
  constructor(
    private readonly lifecycle: VersionLifecycleService,
    private readonly streams: StreamsService,
    private readonly events: EventsService,
    private readonly provenance: ProvenanceService,
    private readonly catalog: CatalogPort,
  ) {}

  async write(
    manager: EntityManager,
    ctx: StepContext,
  ): Promise<{ result: Record<string, unknown>; event: RecordedEvent }> {
    await this.lifecycle.finishPublishing(manager, ctx.manifest.version.id, ctx.requestedBy);
    const published = await this.catalog.manifestById(ctx.manifest.version.id, manager);
    const actor = await this.events.actorById(manager, ctx.requestedBy);
    const logIndex = await this.provenance.recordPublication(manager, published, {
      jobId: ctx.lease.jobId,
      publisher: actor.principalId === null ? null : { id: actor.principalId, name: actor.name },
      publishedAt: published.version.publishedAt as Date,
    });
    const result = {
      streams_revision: await this.streams.bumpRevision(manager),
      log_index: logIndex,
    };
    const event = await this.events.record(manager, {
      type: 'version.published',
      imageName: ctx.manifest.image.name,
      data: versionPublishedData(ctx.manifest, ctx.lease.jobId, actor),
    });
    return { result, event };
  }
}
