import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { StreamsItemInput } from './streams-item.entity';
import { StreamsRepository } from './streams.repository';

/**
 * The Incus Simple Streams projection. Writers (the publish pipeline, aliases) change rows and
 * bump the revision in their own transaction; readers render per revision.
 */
@Injectable()
export class StreamsService {
  constructor(private readonly repository: StreamsRepository) {}

  /** Replaces a version's projection rows: re-running incus_index leaves one set. */
  replaceVersionItems(
    manager: EntityManager,
    versionId: string,
    items: StreamsItemInput[],
  ): Promise<void> {
    return this.repository.replaceVersionItems(manager, versionId, items);
  }

  /** Marks the documents stale: every API process renders the new revision on its next request. */
  bumpRevision(manager: EntityManager): Promise<number> {
    return this.repository.bumpRevision(manager);
  }
}
