import { Inject, Injectable } from '@nestjs/common';
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
 * The names of the sources that must have registered before the GC may decide anything: the
 * composition that builds the application says which modules cite blobs (CasModule.register).
 */
export const BLOB_REFERENCE_SOURCES = Symbol('BLOB_REFERENCE_SOURCES');

/** The GC was asked what is cited while a source it expects had not registered. */
export class MissingReferenceSourcesError extends Error {
  constructor(readonly missing: readonly string[]) {
    super(
      `the blob GC cannot tell what is cited: reference sources ${missing.join(', ')} never ` +
        'registered (their module is missing from this composition); nothing is marked or deleted',
    );
    this.name = 'MissingReferenceSourcesError';
  }
}

/**
 * The hook through which other modules tell the GC what they reference. The catalog registers
 * its source at start (`onModuleInit`); citing a digest in a transaction should also call
 * `BlobProtection.protectBlob(manager, digest)`, which removes a pending GC mark under the digest's
 * lock, so a draft citing a blob wins against a GC deleting it.
 *
 * It fails closed: until every expected source has registered, asking what is cited throws
 * (MissingReferenceSourcesError), so a composition that left the catalog out cannot make the GC
 * read "no sources" as "nothing is cited" and delete live blobs.
 */
@Injectable()
export class BlobReferenceRegistry {
  private readonly sources: BlobReferenceSource[] = [];

  constructor(@Inject(BLOB_REFERENCE_SOURCES) private readonly expected: readonly string[]) {}

  register(source: BlobReferenceSource): void {
    if (!this.sources.some((s) => s.name === source.name)) this.sources.push(source);
  }

  /** The expected sources that have not registered (none: the GC may decide). */
  missing(): string[] {
    return this.expected.filter((name) => !this.sources.some((s) => s.name === name));
  }

  /**
   * Of `digests`, those any registered source cites. Throws MissingReferenceSourcesError while an
   * expected source is missing.
   */
  async citedDigests(
    manager: EntityManager,
    digests: readonly string[],
    graceMs: number,
  ): Promise<Set<string>> {
    const missing = this.missing();
    if (missing.length > 0) throw new MissingReferenceSourcesError(missing);
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
