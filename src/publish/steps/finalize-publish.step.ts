import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CatalogService } from '../../catalog/catalog.service';
import { StreamsService } from '../../streams/streams.service';
import type { StepContext } from './step-context';

/** Marks the version published and bumps the streams revision, in the step's fenced transaction. */
@Injectable()
export class FinalizePublishStep {
  constructor(
    private readonly catalog: CatalogService,
    private readonly streams: StreamsService,
  ) {}

  async write(manager: EntityManager, ctx: StepContext): Promise<Record<string, unknown>> {
    await this.catalog.markPublished(manager, ctx.manifest.version.id, ctx.requestedBy);
    return { streams_revision: await this.streams.bumpRevision(manager) };
  }
}
