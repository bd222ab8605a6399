import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * Something outside the cas module that may cite trusted blobs by digest: the catalog's
 * artifacts and attachments (drafts included), later anything else. The GC never deletes a blob
 * a source still cites.
 */
export interface BlobReferenceSource {
  /** For logs: `catalog.artifacts`. */
  readonly name: string;
  /**
   * Of `digests`, those this source cites now, or stopped citing less than `graceMs` ago.
   * Reads through `manager`: during a GC delete that is the transaction holding the digest lock.
   */
  citedDigests(
    manager: EntityManager,
    digests: readonly string[],
    graceMs: number,
  ): Promise<ReadonlySet<string>>;
  /** Names of the images whose versions cite `digest` now (an upload's other owners may write them). */
  imagesCiting?(digest: string): Promise<readonly string[]>;
}

/**
 * The hook through which other modules tell the GC what they reference. The catalog registers
 * its source at start (`onModuleInit`); citing a digest in a transaction should also call
 * `CasService.protectBlob(manager, digest)`, which removes a pending GC mark under the digest's
 * lock, so a draft citing a blob wins against a GC deleting it.
 */
@Injectable()
export class BlobReferenceRegistry {
  private readonly sources: BlobReferenceSource[] = [];

  register(source: BlobReferenceSource): void {
    if (!this.sources.some((s) => s.name === source.name)) this.sources.push(source);
  }

  /** Of `digests`, those any registered source cites. */
  async citedDigests(
    manager: EntityManager,
    digests: readonly string[],
    graceMs: number,
  ): Promise<Set<string>> {
    const cited = new Set<string>();
    if (digests.length === 0) return cited;
    for (const source of this.sources) {
      for (const d of await source.citedDigests(manager, digests, graceMs)) cited.add(d);
    }
    return cited;
  }

  /** Names of every image any registered source says cites `digest`. */
  async imagesCiting(digest: string): Promise<Set<string>> {
    const images = new Set<string>();
    for (const source of this.sources)
      for (const name of (await source.imagesCiting?.(digest)) ?? []) images.add(name);
    return images;
  }
}
