import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { VersionLifecycleService } from '../../catalog/version-lifecycle.service';
import { versionPublishedData } from '../../events/event-payload';
import { EventsService, type RecordedEvent } from '../../events/events.service';
import { StreamsService } from '../../streams/streams.service';
import type { StepContext } from './step-context';

/**
 * Marks the version published, bumps the streams revision and records `version.published`, all
 * in the step's fenced transaction.
 */
@Injectable()
export class FinalizePublishStep {
  constructor(
    private readonly lifecycle: VersionLifecycleService,
    private readonly streams: StreamsService,
    private readonly events: EventsService,
  ) {}

  async write(
    manager: EntityManager,
    ctx: StepContext,
  ): Promise<{ result: Record<string, unknown>; event: RecordedEvent }> {
    await this.lifecycle.finishPublishing(manager, ctx.manifest.version.id, ctx.requestedBy);
    const result = { streams_revision: await this.streams.bumpRevision(manager) };
    const event = await this.events.record(manager, {
      type: 'version.published',
      imageName: ctx.manifest.image.name,
      data: versionPublishedData(
        ctx.manifest,
        ctx.lease.jobId,
        await this.events.actorById(manager, ctx.requestedBy),
      ),
    });
    return { result, event };
  }
}
