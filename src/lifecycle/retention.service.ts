import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { CatalogPort } from '../catalog/catalog-port';
import { CatalogService } from '../catalog/catalog.service';
import type { Logger } from '../common/logging/logger';
import { LOGGER } from '../common/logging/logging.module';
import { EventsService, type RecordedEvent } from '../events/events.service';
import {
  RetentionRepository,
  type RetentionCandidate,
  type RetentionPolicy,
} from './retention.repository';
import { WithdrawalService } from './withdrawal.service';

/** Who withdraws what a policy lets go, as the audit log names it. */
export const RETENTION_ACTOR: Actor = {
  principal: null,
  requestId: null,
  system: 'system:retention',
};

/** Withdrawals per transaction while applying a policy: each batch commits on its own. */
const BATCH = 100;

export interface PolicyInput {
  readonly keepLatest: number | null;
  readonly keepDays: number | null;
  readonly keepAliased: boolean;
}

/**
 * Retention policies per image, and applying them: the versions a policy lets go are withdrawn
 * with reason `retention`, in batches that each commit on their own (a crash leaves whole
 * withdrawals; the next run withdraws the rest). The policy row is locked while a batch is
 * decided and withdrawn, so one applier works on an image at a time, from what PostgreSQL says.
 */
@Injectable()
export class RetentionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly catalog: CatalogService,
    private readonly catalogPort: CatalogPort,
    private readonly policies: RetentionRepository,
    private readonly withdrawals: WithdrawalService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async get(principal: Principal | null, name: string): Promise<RetentionPolicy | null> {
    const image = await this.catalog.getImage(principal, name);
    return this.policies.find(image.id);
  }

  async put(actor: Actor, name: string, input: PolicyInput): Promise<RetentionPolicy> {
    return this.dataSource.transaction(async (manager) => {
      const image = await this.catalogPort.imageIn(manager, name);
      const policy = await this.policies.put(manager, image.id, input, actor.principal?.id ?? null);
      await this.audit.record(manager, {
        actor,
        action: 'retention.set',
        targetType: 'image',
        targetId: image.id,
        imageName: name,
        detail: {
          keep_latest: input.keepLatest,
          keep_days: input.keepDays,
          keep_aliased: input.keepAliased,
        },
      });
      return policy;
    });
  }

  /** Removes the policy; true when there was one. */
  async remove(actor: Actor, name: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const image = await this.catalogPort.imageIn(manager, name);
      const removed = await this.policies.delete(manager, image.id);
      if (removed)
        await this.audit.record(manager, {
          actor,
          action: 'retention.remove',
          targetType: 'image',
          targetId: image.id,
          imageName: name,
        });
      return removed;
    });
  }

  /** What applying the policy would withdraw now (empty without a policy). */
  async preview(principal: Principal | null, name: string): Promise<RetentionCandidate[]> {
    const image = await this.catalog.getImage(principal, name);
    const policy = await this.policies.find(image.id);
    return policy ? this.policies.candidates(policy, 100_000) : [];
  }

  /** Applies the image's policy; returns the versions withdrawn. */
  async apply(name: string): Promise<string[]> {
    const withdrawn: string[] = [];
    for (;;) {
      const batch = await this.withdrawals.inTransaction(async (manager) => {
        const image = await this.catalogPort.imageIn(manager, name);
        const policy = await this.policies.find(image.id, manager, true);
        if (!policy) return { versions: [] as string[], recorded: [] as RecordedEvent[] };
        const due = await this.policies.candidates(policy, BATCH, manager);
        const recorded: RecordedEvent[] = [];
        const newest = due.some((c) => c.aliased)
          ? await this.policies.newestPublished(manager, image.id)
          : null;
        for (const c of due) {
          const result = await this.withdrawals.withdrawIn(
            manager,
            RETENTION_ACTOR,
            name,
            c.version,
            {
              reason: 'retention',
              immediate: false,
              // Only without keep_aliased: the aliases move to the newest published version.
              moveAliasesTo: c.aliased ? (newest ?? undefined) : undefined,
            },
          );
          recorded.push(...result.recorded);
        }
        if (due.length < BATCH) await this.policies.markApplied(manager, image.id);
        return { versions: due.map((c) => c.version), recorded };
      });
      await this.events.wake(...batch.recorded);
      withdrawn.push(...batch.versions);
      if (batch.versions.length < BATCH) break;
    }
    if (withdrawn.length > 0)
      this.logger.info({ image: name, withdrawn: withdrawn.length }, 'applied retention policy');
    return withdrawn;
  }

  /** Applies the policies that may let something go now; returns how many versions went. */
  async applyDue(): Promise<number> {
    let total = 0;
    for (const { imageName } of await this.policies.imagesDue())
      total += (await this.apply(imageName)).length;
    return total;
  }
}
