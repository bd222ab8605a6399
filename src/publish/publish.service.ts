import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { scopePatterns } from '../auth/scope';
import { CatalogService, type Manifest } from '../catalog/catalog.service';
import { CatalogPort } from '../catalog/catalog-port';
import { VersionLifecycleService } from '../catalog/version-lifecycle.service';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import type { JobState, PublishJobEntity } from './publish-job.entity';
import { PublishJobRepository, type JobView } from './publish-job.repository';
import { PublishQueue } from './publish.queue';
import { PublishabilityChecker } from './publishability';

export type { JobView };

/**
 * Publishing: freezes a draft (publishing), inserts the job and its steps in the same
 * transaction, and wakes a worker after commit. Retry and cancel: docs/architecture.md.
 */
@Injectable()
export class PublishService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly jobs: PublishJobRepository,
    private readonly catalog: CatalogService,
    private readonly catalogPort: CatalogPort,
    private readonly lifecycle: VersionLifecycleService,
    private readonly checker: PublishabilityChecker,
    private readonly queue: PublishQueue,
    private readonly audit: AuditService,
  ) {}

  /** 202 with a new or running job, or 200 with the succeeded job of a published version. */
  async publish(
    actor: Actor,
    name: string,
    version: string,
  ): Promise<{ view: JobView; alreadyPublished: boolean }> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const manifest = await this.catalogPort.lockForPublish(manager, name, version);
      const row = manifest.version;
      if (row.state !== 'draft') {
        const live = await this.jobs.findLive(manager, row.id);
        if (!live)
          throw new DomainError(
            'PUBLISH_JOB_STATE_CONFLICT',
            `Version ${version} is ${row.state} without a job.`,
          );
        return { jobId: live.id, created: false, alreadyPublished: row.state === 'published' };
      }
      const problems = await this.checker.problems(manifest, manager);
      if (problems.length > 0) {
        throw new DomainError(
          'VERSION_NOT_PUBLISHABLE',
          `Version ${version} of ${name} cannot be published: ${problems.map((p) => p.detail).join('; ')}`,
          { problems },
        );
      }
      await this.lifecycle.beginPublishing(manager, row.id);
      const jobId = await this.jobs.insertWithSteps(manager, row.id, actor.principal?.id ?? null);
      await this.audit.record(manager, {
        actor,
        action: 'version.publish',
        targetType: 'image_version',
        targetId: row.id,
        imageName: name,
        detail: { version, job_id: jobId },
      });
      return { jobId, created: true, alreadyPublished: false };
    });
    if (outcome.created) await this.queue.wake(outcome.jobId);
    return { view: await this.view(outcome.jobId), alreadyPublished: outcome.alreadyPublished };
  }

  /** A job, if the caller may read its image (404 otherwise, as for an unknown job). */
  async getJob(principal: Principal | null, jobId: string): Promise<JobView> {
    const view = await this.view(jobId);
    if (!(principal?.can('content.read', view.imageName) ?? false)) throw notFound(jobId);
    return view;
  }

  /** A job's state and failure, for the server's own waits (the mirror); no visibility check. */
  async jobOutcome(
    jobId: string,
  ): Promise<{ state: JobView['job']['state']; failure: string | null }> {
    const { job } = await this.view(jobId);
    return { state: job.state, failure: job.failureMessage };
  }

  async latestJob(principal: Principal | null, name: string, version: string): Promise<JobView> {
    const manifest: Manifest = await this.catalog.getManifest(principal, name, version);
    const job = await this.jobs.findLatestForVersion(manifest.version.id);
    if (!job)
      throw new DomainError(
        'PUBLISH_JOB_NOT_FOUND',
        `Version ${version} of ${name} has never been published.`,
      );
    return this.view(job.id);
  }

  /** Jobs of the images the caller may read, newest first. */
  async listJobs(
    principal: Principal | null,
    state: JobState | undefined,
    limit: number,
    cursor?: string,
  ): Promise<Page<JobView>> {
    const patterns = scopePatterns(principal, 'content.read');
    const rows = await this.jobs.list(state, patterns, limit, cursor);
    const page = pageOf(rows, limit, (j) => [j.createdAt.toISOString(), j.id]);
    return {
      items: await this.jobs.viewsOf(page.items.map((j) => j.id)),
      nextCursor: page.nextCursor,
    };
  }

  /** Re-runs a failed job from its first failed step; earlier successes stay. */
  async retry(actor: Actor, jobId: string): Promise<JobView> {
    await this.dataSource.transaction(async (manager) => {
      const job = await this.lockJob(manager, jobId);
      const manifest = await this.catalogPort.manifestById(job.versionId, manager);
      this.authorize(actor, manifest.image.name, jobId);
      if (job.state !== 'failed') {
        throw new DomainError(
          'PUBLISH_JOB_STATE_CONFLICT',
          `Only failed jobs can be retried; this one is ${job.state}.`,
          {
            state: job.state,
          },
        );
      }
      await this.jobs.reopen(manager, jobId);
      await this.audit.record(manager, {
        actor,
        action: 'publish_job.retry',
        targetType: 'publish_job',
        targetId: jobId,
        imageName: manifest.image.name,
        detail: { version: manifest.version.version },
      });
    });
    await this.queue.wake(jobId);
    return this.view(jobId);
  }

  /** Cancels a failed or not yet started job; its version becomes a draft again. */
  async cancel(actor: Actor, jobId: string): Promise<JobView> {
    await this.dataSource.transaction(async (manager) => {
      const job = await this.lockJob(manager, jobId);
      this.authorize(
        actor,
        (await this.catalogPort.manifestById(job.versionId, manager)).image.name,
        jobId,
      );
      const notStarted =
        job.state === 'queued' && !(await this.jobs.anyStepStarted(manager, jobId));
      if (job.state !== 'failed' && !notStarted) {
        throw new DomainError(
          'PUBLISH_JOB_STATE_CONFLICT',
          `Only failed or not yet started jobs can be cancelled; this one is ${job.state}.`,
          { state: job.state },
        );
      }
      await this.jobs.cancel(manager, jobId);
      await this.lifecycle.backToDraft(manager, job.versionId);
      const manifest = await this.catalogPort.manifestById(job.versionId, manager);
      await this.audit.record(manager, {
        actor,
        action: 'publish_job.cancel',
        targetType: 'publish_job',
        targetId: jobId,
        imageName: manifest.image.name,
        detail: { version: manifest.version.version },
      });
    });
    return this.view(jobId);
  }

  /**
   * Retry and cancel are image-bound: the routes name a job, not an image, so the guard could
   * only check the action in some scope. A caller who may not read the image learns nothing
   * (404); one who may read it but not publish it gets 403.
   */
  private authorize(actor: Actor, imageName: string, jobId: string): void {
    const principal = actor.principal;
    if (!(principal?.can('content.read', imageName) ?? false)) throw notFound(jobId);
    if (!principal?.can('content.publish', imageName)) {
      throw new DomainError(
        'FORBIDDEN',
        `This needs the content.publish permission on image ${imageName}.`,
        { required_action: 'content.publish', image: imageName },
      );
    }
  }

  private async lockJob(
    manager: Parameters<PublishJobRepository['lockJob']>[0],
    jobId: string,
  ): Promise<PublishJobEntity> {
    const job = await this.jobs.lockJob(manager, jobId);
    if (!job) throw notFound(jobId);
    return job;
  }

  private async view(jobId: string): Promise<JobView> {
    const [view] = await this.jobs.viewsOf([jobId]);
    if (!view) throw notFound(jobId);
    return view;
  }
}

function notFound(jobId: string): DomainError {
  return new DomainError('PUBLISH_JOB_NOT_FOUND', `No publish job has id ${jobId}.`);
}
