import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CasBlobRepository } from './cas-blob.repository';
import { isDigest } from './digest';

/** How a module that cites blobs keeps the GC away from them (docs/uploads.md, "Garbage collection"). */
@Injectable()
export class BlobProtection {
  constructor(private readonly blobs: CasBlobRepository) {}

  /**
   * For modules that cite a digest (the catalog adding an artifact or attachment): call inside
   * the citing transaction. It waits for a GC deciding that digest's fate and withdraws any
   * pending GC mark, so the citation wins the race.
   */
  async protectBlob(manager: EntityManager, digest: string): Promise<void> {
    if (!isDigest(digest)) return;
    await this.blobs.lockDigest(manager, digest);
    await this.blobs.unmark(manager, digest);
  }
}
