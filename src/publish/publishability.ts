import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BlobReader } from '../cas/blob-reader';
import type { Manifest } from '../catalog/catalog.service';

export interface PublishProblem {
  readonly digest: string | null;
  readonly reason: 'no_artifacts' | 'not_uploaded' | 'size_mismatch';
  readonly detail: string;
}

/** Every blob a manifest cites, with the size it declares and where it is cited. */
export function citedBlobs(
  manifest: Manifest,
): { digest: string; sizeBytes: number; where: string }[] {
  return manifest.artifacts.flatMap(({ artifact, attachments }) => [
    {
      digest: artifact.primaryBlobDigest,
      sizeBytes: artifact.primaryBlobSizeBytes,
      where: `artifact ${artifact.id}`,
    },
    ...attachments.map((a) => ({
      digest: a.blobDigest,
      sizeBytes: a.blobSizeBytes,
      where: `attachment ${a.name} of artifact ${artifact.id}`,
    })),
  ]);
}

/**
 * A version is publishable when it has at least one artifact and every blob it cites is trusted
 * with exactly the declared size. Lists every problem, not just the first.
 */
@Injectable()
export class PublishabilityChecker {
  constructor(private readonly blobs: BlobReader) {}

  async problems(manifest: Manifest, manager?: EntityManager): Promise<PublishProblem[]> {
    if (manifest.artifacts.length === 0) {
      return [{ digest: null, reason: 'no_artifacts', detail: 'the version has no artifacts' }];
    }
    const cited = citedBlobs(manifest);
    const trusted = await this.blobs.trustedSizes(
      [...new Set(cited.map((c) => c.digest))],
      manager,
    );
    const problems: PublishProblem[] = [];
    for (const c of cited) {
      const size = trusted.get(c.digest);
      if (size === undefined) {
        problems.push({
          digest: c.digest,
          reason: 'not_uploaded',
          detail: `${c.digest} (${c.where}) is not an uploaded, verified blob`,
        });
      } else if (size !== c.sizeBytes) {
        problems.push({
          digest: c.digest,
          reason: 'size_mismatch',
          detail: `${c.digest} (${c.where}) is declared as ${c.sizeBytes} bytes but the verified blob has ${size}`,
        });
      }
    }
    return problems;
  }
}
