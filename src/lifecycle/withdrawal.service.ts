import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AliasRepository } from '../aliases/alias.repository';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import { CatalogPort } from '../catalog/catalog-port';
import type { ImageVersionEntity } from '../catalog/image-version.entity';
import { lifecycleRefusal } from '../catalog/lifecycle-refusals';
import { VersionLifecycleService } from '../catalog/version-lifecycle.service';
import { isServed } from '../catalog/version-state';
import { DomainError } from '../common/errors/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { aliasMovedData, versionWithdrawnData } from '../events/event-payload';
import { EventsService, type RecordedEvent } from '../events/events.service';
import { ProvenanceService } from '../provenance/provenance.service';
import { StreamsService } from '../streams/streams.service';
import { WithdrawalRepository } from './withdrawal.repository';

export interface WithdrawRequest {
  readonly reason: string;
  readonly immediate: boolean;
  /** Where the aliases that point at the version move; without it, aliases refuse the withdrawal. */
  readonly moveAliasesTo?: string;
}

/**
 * Withdraws a published version: one transaction locks the version and the aliases that point at
 * it, moves those aliases (when asked), moves the version to `withdrawn`, bumps the streams
 * revision (the version leaves both documents at once), appends a signed withdrawal record to the
 * transparency log and writes the audit and webhook events.
 * A repeated withdrawal of a withdrawn version answers it as it is.
 */
@Injectable()
export class WithdrawalService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly catalog: CatalogPort,
    private readonly lifecycle: VersionLifecycleService,
    private readonly withdrawals: WithdrawalRepository,
    private readonly aliases: AliasRepository,
    private readonly streams: StreamsService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    private readonly provenance: ProvenanceService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async withdraw(
    actor: Actor,
    name: string,
    version: string,
    request: WithdrawRequest,
  ): Promise<ImageVersionEntity> {
    const { row, recorded } = await this.inTransaction((manager) =>
      this.withdrawIn(manager, actor, name, version, request),
    );
    await this.events.wake(...recorded);
    return row;
  }

  /**
   * The withdrawal in the caller's transaction (retention withdraws several in one): the events
   * it recorded are for the caller to wake once the transaction has committed.
   */
  async withdrawIn(
    manager: EntityManager,
    actor: Actor,
    name: string,
    version: string,
    request: WithdrawRequest,
  ): Promise<{ row: ImageVersionEntity; recorded: RecordedEvent[] }> {
    const found = await this.catalog.findVersionForAlias(manager, name, version);
    const row = found.version && (await this.withdrawals.lock(manager, found.version.id));
    if (!row)
      throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
    if (row.state === 'withdrawn') return { row, recorded: [] as RecordedEvent[] };
    if (!isServed(row.state))
      throw new DomainError(
        'VERSION_NOT_PUBLISHED',
        `Version ${version} is ${row.state}; only a published version can be withdrawn.`,
      );
    const pointing = await this.aliases.pointingAt(manager, row.id);
    const recorded: RecordedEvent[] = [];
    if (pointing.length > 0) {
      if (request.moveAliasesTo === undefined)
        throw new DomainError(
          'VERSION_ALIASED',
          `Aliases point at version ${version}: ${pointing.map((a) => a.alias).join(', ')}. ` +
            'Name a published version to move them to (move_aliases_to).',
          { aliases: pointing.map((a) => a.alias) },
        );
      const target = await this.catalog.findVersionForAlias(manager, name, request.moveAliasesTo);
      if (!target.version)
        throw new DomainError(
          'VERSION_NOT_FOUND',
          `Image ${name} has no version ${request.moveAliasesTo} to move the aliases to.`,
        );
      if (target.version.id === row.id)
        throw new DomainError(
          'ALIAS_TARGET_NOT_PUBLISHED',
          'The aliases cannot stay on the version being withdrawn; name another version.',
        );
      this.lifecycle.requireAliasTarget(target.version);
      const manifest = await this.catalog.manifestById(target.version.id, manager);
      for (const alias of pointing) {
        await this.aliases.upsert(manager, found.image.id, alias.alias, target.version.id);
        await this.audit.record(manager, {
          actor,
          action: 'alias.move',
          targetType: 'alias',
          targetId: alias.id,
          imageName: name,
          detail: {
            alias: alias.alias,
            version: target.version.version,
            from_version: version,
            reason: 'withdraw',
          },
        });
        recorded.push(
          await this.events.record(manager, {
            type: 'alias.moved',
            imageName: name,
            data: aliasMovedData(
              manifest,
              { id: alias.id, name: alias.alias, previousVersion: version },
              this.events.actorOf(actor),
            ),
          }),
        );
      }
    }
    await this.lifecycle.withdraw(manager, row.id, {
      reason: request.reason,
      immediate: request.immediate,
      by: actor.principal?.id ?? null,
      graceMs: this.config.lifecycle.withdrawGraceMs,
    });
    await this.streams.bumpRevision(manager);
    const withdrawn = (await this.withdrawals.lock(manager, row.id)) as ImageVersionEntity;
    const withdrawnManifest = await this.catalog.manifestById(row.id, manager);
    const eventActor = this.events.actorOf(actor);
    await this.provenance.recordWithdrawal(manager, withdrawnManifest, {
      by:
        eventActor.principalId === null
          ? null
          : { id: eventActor.principalId, name: eventActor.name },
      at: withdrawn.withdrawnAt as Date,
      reason: request.reason,
      immediate: request.immediate,
    });
    const movedAliases = pointing.map((a) => a.alias);
    await this.audit.record(manager, {
      actor,
      action: 'version.withdraw',
      targetType: 'version',
      targetId: row.id,
      imageName: name,
      detail: {
        version,
        reason: request.reason,
        immediate: request.immediate,
        moved_aliases: movedAliases,
        moved_aliases_to: pointing.length > 0 ? (request.moveAliasesTo ?? null) : null,
      },
    });
    recorded.push(
      await this.events.record(manager, {
        type: 'version.withdrawn',
        imageName: name,
        data: versionWithdrawnData(
          withdrawnManifest,
          {
            reason: request.reason,
            immediate: request.immediate,
            purgeAfter: withdrawn.purgeAfter as Date,
            movedAliases,
          },
          this.events.actorOf(actor),
        ),
      }),
    );
    return { row: withdrawn, recorded };
  }

  /** A transaction whose trigger refusals (a concurrent alias move) become their API errors. */
  async inTransaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      throw lifecycleRefusal(error) ?? error;
    }
  }
}
