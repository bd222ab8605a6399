import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject } from '@nestjs/common';
import type { Job } from 'bullmq';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { CasMaintenanceService } from './cas-maintenance.service';
import { CAS_QUEUE, SWEEP_JOB, VERIFY_UPLOAD_JOB, parseVerifyUploadPayload } from './cas.queue';
import { UploadVerifier } from './upload-verifier';

/** Worker side of the cas queue: parses the job and calls the service; nothing more. */
@Processor(CAS_QUEUE, { concurrency: 2 })
export class CasProcessor extends WorkerHost {
  constructor(
    private readonly verifier: UploadVerifier,
    private readonly maintenance: CasMaintenanceService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    super();
  }

  /**
   * Connection trouble (Redis down or restarting). Without a listener BullMQ prints each error
   * to the console; nothing is lost meanwhile: the sweeper re-enqueues from PostgreSQL.
   */
  @OnWorkerEvent('error')
  onWorkerError(error: Error): void {
    this.logger.warn({ err: { message: error?.message } }, 'cas queue worker error');
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name) {
      case VERIFY_UPLOAD_JOB:
        return this.verifier.verify(parseVerifyUploadPayload(job.data).uploadId);
      case SWEEP_JOB:
        return this.maintenance.sweep();
      default:
        throw new Error(`unknown cas job ${JSON.stringify(job.name)}`);
    }
  }
}
