import { Injectable } from '@nestjs/common';
import { PublishabilityChecker } from '../publishability';
import { PermanentStepError } from '../step-plan';
import type { StepContext } from './step-context';

/** Re-checks, in the worker, that every cited blob is trusted with its declared size. */
@Injectable()
export class ValidateCatalogStep {
  constructor(private readonly checker: PublishabilityChecker) {}

  async run(ctx: StepContext): Promise<Record<string, unknown>> {
    const problems = await this.checker.problems(ctx.manifest);
    if (problems.length > 0) throw new PermanentStepError(problems.map((p) => p.detail).join('; '));
    return {
      blobs_checked: new Set(
        ctx.manifest.artifacts.flatMap((a) => [
          a.artifact.primaryBlobDigest,
          ...a.attachments.map((t) => t.blobDigest),
        ]),
      ).size,
    };
  }
}
