import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { CatalogPort } from '../catalog/catalog-port';
import { versionPublishFailedData } from '../events/event-payload';
import { EventsService, type RecordedEvent } from '../events/events.service';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { PublishJobRepository, type Claim, type Lease } from './publish-job.repository';
import { PublishMetrics } from './publish.metrics';
import { PublishQueue } from './publish.queue';
import {
  backoffMs,
  failureText,
  LeaseLostError,
  PermanentStepError,
  shouldRetry,
} from './step-plan';
import { FinalizePublishStep } from './steps/finalize-publish.step';
import { IncusIndexStep } from './steps/incus-index.step';
import type { StepContext } from './steps/step-context';
import { ValidateCatalogStep } from './steps/validate-catalog.step';

/** Identifies this process's leases: node, pid and a per-start run id. */
export const WORKER_ID = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/**
 * Runs publish steps in a worker: claims the next runnable step of a job in PostgreSQL, renews
 * its lease by heartbeat while it runs, and commits the result only while the lease still holds.
 * A worker that lost its lease discards its work.
 */
@Injectable()
export class StepRunner {
  constructor(
    private readonly dataSource: DataSource,
    private readonly jobs: PublishJobRepository,
    private readonly catalogPort: CatalogPort,
    private readonly queue: PublishQueue,
    private readonly metrics: PublishMetrics,
    private readonly validate: ValidateCatalogStep,
    private readonly index: IncusIndexStep,
    private readonly finalize: FinalizePublishStep,
    private readonly events: EventsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Claims and runs the next runnable step of `jobId`, if any, and after a success wakes a worker
   * for the step after it. Returns whether it ran one.
   */
  async runNext(jobId: string, owner = WORKER_ID): Promise<boolean> {
    return (await this.runSteps(jobId, owner, () => false)) > 0;
  }

  /**
   * Runs the steps of `jobId` one after another while they succeed, each claimed in PostgreSQL as
   * any worker would, then returns how many it ran: a worker woken for a job carries it on
   * without a round trip through the queue between steps. Once `carryOn` says no (the process is
   * stopping), a success wakes a worker for the next step instead. A crash between two steps
   * leaves the next one queued in PostgreSQL, where the sweeper finds it.
   */
  async runSteps(jobId: string, owner = WORKER_ID, carryOn = () => true): Promise<number> {
    let ran = 0;
    for (;;) {
      const step = await this.runStep(jobId, owner);
      if (step) ran++;
      if (step?.outcome !== 'succeeded') return ran;
      if (!carryOn()) {
        await this.queue.wake(jobId, `after_${step.step}_${step.attempt}`);
        return ran;
      }
    }
  }

  /** Claims and runs the next runnable step of `jobId`: which one and how it ended, or null. */
  private async runStep(
    jobId: string,
    owner: string,
  ): Promise<{ step: string; attempt: number; outcome: 'succeeded' | 'failed' } | null> {
    const { leaseMs } = this.config.publish;
    const claim = await this.jobs.claimNext(jobId, owner, leaseMs);
    if (!claim) return null;
    const ran = (outcome: 'succeeded' | 'failed') => ({
      step: claim.step,
      attempt: claim.attempt,
      outcome,
    });
    if (claim.takeover) this.metrics.takeovers.inc();
    const log = this.logger.child({ jobId, step: claim.step, attempt: claim.attempt });
    log.info(claim.takeover ? 'took over an expired step lease' : 'running publish step');

    // Attempts that never finished (their worker died or lost PostgreSQL and its lease) count
    // against the automatic budget too: a step that kills its worker every time must not be
    // taken over forever.
    const { maxAttempts } = this.config.publish;
    if (claim.takeover && claim.attemptsInBudget > maxAttempts) {
      await this.onFailure(
        claim,
        new PermanentStepError(
          `gave up after ${maxAttempts} attempts that did not finish (each time the worker stopped or lost its lease)`,
        ),
        log,
      );
      return ran('failed');
    }

    const lost = new AbortController();
    // One renewal at a time: a renewal waiting on PostgreSQL must not pile up more behind it,
    // each holding a pool connection.
    let renewing = false;
    const heartbeat = setInterval(
      () => {
        if (renewing) return;
        renewing = true;
        this.jobs
          .renew(claim, leaseMs)
          .then(
            (held) => {
              if (!held) lost.abort(new LeaseLostError(claim.jobId, claim.step));
            },
            (error: unknown) =>
              log.warn({ err: { message: (error as Error).message } }, 'lease renewal failed'),
          )
          .finally(() => (renewing = false));
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    const timer = this.metrics.stepDuration.startTimer({ step: claim.step });

    try {
      const ctx: StepContext = {
        lease: claim,
        manifest: await this.catalogPort.manifestById(claim.versionId),
        signal: lost.signal,
        requestedBy: (await this.jobs.findById(claim.jobId))?.requestedBy ?? null,
      };
      await this.execute(ctx);
      timer({ outcome: 'succeeded' });
      this.metrics.steps.inc({ step: claim.step, outcome: 'succeeded' });
      log.info('publish step succeeded');
      return ran('succeeded');
    } catch (error) {
      timer({ outcome: 'failed' });
      if (error instanceof LeaseLostError || lost.signal.aborted) {
        this.metrics.steps.inc({ step: claim.step, outcome: 'lease_lost' });
        log.warn('lost the step lease; discarding this attempt');
      } else {
        await this.onFailure(claim, error, log);
      }
    } finally {
      clearInterval(heartbeat);
    }
    return ran('failed');
  }

  private async execute(ctx: StepContext): Promise<void> {
    const { lease } = ctx;
    switch (lease.step) {
      case 'validate_catalog': {
        const result = await this.validate.run(ctx);
        return this.commit(lease, async () => result);
      }
      case 'incus_index': {
        const plan = await this.index.compute(ctx);
        return this.commit(lease, (manager) => this.index.write(manager, ctx, plan));
      }
      case 'finalize_publish': {
        let event: RecordedEvent | undefined;
        await this.commit(lease, async (manager) => {
          const written = await this.finalize.write(manager, ctx);
          event = written.event;
          return written.result;
        });
        return this.events.wake(event);
      }
    }
  }

  /** The fenced write: result and success only while this lease still holds the step. */
  private async commit(
    lease: Lease,
    write: (manager: EntityManager) => Promise<Record<string, unknown>>,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      if (!(await this.jobs.holdsLease(manager, lease)))
        throw new LeaseLostError(lease.jobId, lease.step);
      const result = await write(manager);
      await this.jobs.markSucceeded(manager, lease, result);
    });
  }

  private async onFailure(claim: Claim, error: unknown, log: Logger): Promise<void> {
    const message = failureText(error);
    const { maxAttempts, backoffBaseMs, backoffCapMs } = this.config.publish;
    const retry = shouldRetry(error, claim.attemptsInBudget, maxAttempts);
    let event: RecordedEvent | undefined;
    try {
      await this.dataSource.transaction(async (manager) => {
        if (!(await this.jobs.holdsLease(manager, claim)))
          throw new LeaseLostError(claim.jobId, claim.step);
        if (retry)
          await this.jobs.requeue(
            manager,
            claim,
            backoffMs(claim.attemptsInBudget, backoffBaseMs, backoffCapMs),
            message,
          );
        else {
          await this.jobs.markFailed(manager, claim, message);
          event = await this.recordFailure(manager, claim, message);
        }
      });
    } catch (recordError) {
      // PostgreSQL itself may be what failed: the lease expires and the sweeper hands the step
      // to a worker again, so nothing is lost.
      log.warn(
        { err: { message: (recordError as Error).message } },
        'could not record the step failure; its lease will expire',
      );
      return;
    }
    this.metrics.steps.inc({ step: claim.step, outcome: retry ? 'retry' : 'failed' });
    if (retry) {
      this.metrics.retries.inc({ step: claim.step });
      const delay = backoffMs(claim.attemptsInBudget, backoffBaseMs, backoffCapMs);
      log.warn({ err: { message }, delayMs: delay }, 'publish step failed; retrying');
      await this.queue.wake(claim.jobId, `${claim.step}_${claim.attempt}_retry`, delay);
    } else {
      log.error({ err: { message } }, 'publish step failed');
      await this.events.wake(event);
    }
  }

  /** `version.publish_failed`, in the transaction that fails the job. */
  private async recordFailure(
    manager: EntityManager,
    claim: Claim,
    message: string,
  ): Promise<RecordedEvent> {
    const manifest = await this.catalogPort.manifestById(claim.versionId, manager);
    const requestedBy = (await this.jobs.findById(claim.jobId, manager))?.requestedBy ?? null;
    return this.events.record(manager, {
      type: 'version.publish_failed',
      imageName: manifest.image.name,
      data: versionPublishFailedData(
        manifest,
        claim.jobId,
        await this.events.actorById(manager, requestedBy),
        { step: claim.step, message },
      ),
    });
  }
}
