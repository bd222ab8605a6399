import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';

/** The cas module's BullMQ queue. Jobs only say "look now"; their state lives in PostgreSQL. */
export const CAS_QUEUE = 'cas';
export const VERIFY_UPLOAD_JOB = 'verify-upload';
export const SWEEP_JOB = 'sweep';
export const SWEEP_SCHEDULER_ID = 'cas-sweep';

export interface VerifyUploadPayload {
  readonly uploadId: string;
}

export function parseVerifyUploadPayload(data: unknown): VerifyUploadPayload {
  const uploadId = (data as { uploadId?: unknown } | null)?.uploadId;
  if (typeof uploadId !== 'string' || !/^[0-9a-f-]{36}$/.test(uploadId)) {
    throw new Error('verify-upload job without a valid uploadId');
  }
  return { uploadId };
}

@Injectable()
export class CasJobs {
  constructor(
    @InjectQueue(CAS_QUEUE) private readonly queue: Queue,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    // Connection trouble (Redis down or restarting): logged here instead of BullMQ printing each
    // error to the console; callers see their own failures, PostgreSQL keeps the work.
    queue.on('error', (error: Error) =>
      this.logger.warn({ err: { message: error?.message } }, 'cas queue connection error'),
    );
  }

  /**
   * Wakes a worker to verify an upload. Failing to reach Redis loses nothing: the sweeper finds
   * the unclaimed session in PostgreSQL and enqueues it again.
   */
  async enqueueVerification(uploadId: string, attempt: number): Promise<void> {
    try {
      await this.queue.add(VERIFY_UPLOAD_JOB, { uploadId } satisfies VerifyUploadPayload, {
        jobId: `verify-${uploadId}-${attempt}`,
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: true,
        removeOnFail: 1_000,
      });
    } catch (error) {
      this.logger.warn({ err: error, uploadId }, 'could not enqueue an upload verification');
    }
  }

  /** Runs the sweepers every `everyMs` on some worker (one schedule shared by all workers). */
  async scheduleSweeps(everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(
      SWEEP_SCHEDULER_ID,
      { every: everyMs },
      { name: SWEEP_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
    );
  }
}
