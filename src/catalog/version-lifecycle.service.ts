import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError } from '../common/errors/domain-error';
import type { ImageVersionEntity } from './image-version.entity';
import { ImageVersionRepository } from './image-version.repository';
import { isServed, VERSION_TRANSITIONS, type VersionTransition } from './version-state';

export interface Withdrawal {
  readonly reason: string;
  readonly immediate: boolean;
  readonly by: string | null;
  /** How long downloads keep working when not immediate. */
  readonly graceMs: number;
}

/**
 * Every move of a version along its lifecycle (version-state.ts), for publish, aliases and
 * whatever comes after them: each move is one guarded UPDATE in the caller's transaction, from the
 * state the move starts in only. The trigger on image_version refuses the same moves if anything
 * else ever tries them.
 */
@Injectable()
export class VersionLifecycleService {
  constructor(private readonly versions: ImageVersionRepository) {}

  /** draft → publishing: the manifest freezes while the publish job runs. */
  beginPublishing(manager: EntityManager, versionId: string): Promise<void> {
    return this.move(manager, versionId, 'begin_publishing');
  }

  /** publishing → published, with the time and who asked for it. */
  finishPublishing(
    manager: EntityManager,
    versionId: string,
    publishedBy: string | null,
  ): Promise<void> {
    return this.move(manager, versionId, 'finish_publishing', {
      publishedAt: new Date(),
      publishedBy,
    });
  }

  /** publishing → draft: the explicit cancel of a failed or not yet started publish. */
  backToDraft(manager: EntityManager, versionId: string): Promise<void> {
    return this.move(manager, versionId, 'back_to_draft');
  }

  /**
   * published → withdrawn, with who, when, why, and when it is purged (at once for an immediate
   * withdrawal). The trigger refuses it while an alias points at the version.
   */
  async withdraw(manager: EntityManager, versionId: string, withdrawal: Withdrawal): Promise<void> {
    const now = new Date();
    const moved = await this.versions.transition(manager, versionId, 'withdraw', {
      withdrawnAt: now,
      withdrawnBy: withdrawal.by,
      withdrawnReason: withdrawal.reason,
      withdrawnImmediate: withdrawal.immediate,
      purgeAfter: new Date(now.getTime() + (withdrawal.immediate ? 0 : withdrawal.graceMs)),
    });
    if (!moved)
      throw new DomainError('VERSION_NOT_PUBLISHED', 'Only a published version can be withdrawn.');
  }

  /** Aliases point only at versions the streams documents serve. */
  requireAliasTarget(version: ImageVersionEntity): void {
    if (!isServed(version.state))
      throw new DomainError(
        'ALIAS_TARGET_NOT_PUBLISHED',
        `Version ${version.version} is ${version.state}; aliases point only to published versions.`,
      );
  }

  private async move(
    manager: EntityManager,
    versionId: string,
    transition: VersionTransition,
    fields: Partial<Pick<ImageVersionEntity, 'publishedAt' | 'publishedBy'>> = {},
  ): Promise<void> {
    if (await this.versions.transition(manager, versionId, transition, fields)) return;
    const { from, to } = VERSION_TRANSITIONS[transition];
    if (from === 'draft')
      throw new DomainError(
        'VERSION_NOT_DRAFT',
        'The version is no longer a draft; its manifest and identity are frozen.',
      );
    // The callers hold the row (a locked version, a job that owns it): this is a bug, not a race.
    throw new Error(`version ${versionId} is not ${from}: it cannot become ${to}`);
  }
}
