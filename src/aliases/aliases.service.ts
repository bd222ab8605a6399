import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { CatalogService, publicListCache, type Manifest } from '../catalog/catalog.service';
import { CatalogPort } from '../catalog/catalog-port';
import { VersionLifecycleService } from '../catalog/version-lifecycle.service';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import { aliasDeletedData, aliasMovedData } from '../events/event-payload';
import { EventsService, type RecordedEvent } from '../events/events.service';
import { StreamsService } from '../streams/streams.service';
import { AliasRepository, type AliasRow } from './alias.repository';

export const aliasEtag = (a: AliasRow) => `"${a.id}.${a.generation}"`;

/** Does an If-Match header (strong comparison, or `*`) match the alias as it is? */
export function ifMatchHolds(header: string | undefined, current: AliasRow | null): boolean {
  if (header === undefined) return true;
  if (header.trim() === '*') return current !== null;
  return current !== null && header.split(',').some((t) => t.trim() === aliasEtag(current));
}

/**
 * Aliases move between published versions of their image. Every change bumps the streams
 * revision in its transaction, so Incus sees the move on its next refresh.
 */
@Injectable()
export class AliasesService {
  private readonly pages = publicListCache<AliasRow>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly aliases: AliasRepository,
    private readonly catalog: CatalogService,
    private readonly catalogPort: CatalogPort,
    private readonly lifecycle: VersionLifecycleService,
    private readonly streams: StreamsService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  async list(
    principal: Principal | null,
    name: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<AliasRow>> {
    // Aliases point only at published versions: the same list for every caller who may see it.
    return this.catalog.publicPage(
      'aliases',
      this.pages,
      principal,
      name,
      `${limit}\n${cursor ?? ''}`,
      async (image) =>
        pageOf(await this.aliases.list(image.id, limit, cursor), limit, (a) => [a.alias]),
    );
  }

  async get(principal: Principal | null, name: string, alias: string): Promise<AliasRow> {
    const image = await this.catalog.getImage(principal, name);
    const row = await this.aliases.find(image.id, alias);
    if (!row) throw new DomainError('ALIAS_NOT_FOUND', `Image ${name} has no alias ${alias}.`);
    return row;
  }

  /** Creates or moves an alias; `ifMatch` makes the move conditional on the alias's ETag. */
  async put(
    actor: Actor,
    name: string,
    alias: string,
    version: string,
    ifMatch?: string,
  ): Promise<{ row: AliasRow; created: boolean }> {
    const result = await this.dataSource.transaction(async (manager) => {
      const { image, version: target } = await this.catalogPort.findVersionForAlias(
        manager,
        name,
        version,
      );
      if (!target)
        throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
      this.lifecycle.requireAliasTarget(target);
      const before = await this.aliases.find(image.id, alias, manager, true);
      if (!ifMatchHolds(ifMatch, before)) {
        throw new DomainError(
          'ALIAS_PRECONDITION_FAILED',
          `If-Match does not match alias ${alias}${before ? ` (now ${aliasEtag(before)})` : ''}.`,
        );
      }
      if (before?.versionId === target.id) return { row: before, created: false };
      await this.aliases.upsert(manager, image.id, alias, target.id);
      await this.streams.bumpRevision(manager);
      const row = (await this.aliases.find(image.id, alias, manager)) as AliasRow;
      await this.audit.record(manager, {
        actor,
        action: before ? 'alias.move' : 'alias.create',
        targetType: 'alias',
        targetId: row.id,
        imageName: name,
        detail: { alias, version, from_version: before?.version ?? null },
      });
      const event = await this.events.record(manager, {
        type: 'alias.moved',
        imageName: name,
        data: aliasMovedData(
          await this.catalogPort.manifestById(target.id, manager),
          { id: row.id, name: alias, previousVersion: before?.version ?? null },
          this.events.actorOf(actor),
        ),
      });
      return { row, created: !before, event };
    });
    await this.events.wake(result.event);
    return { row: result.row, created: result.created };
  }

  async delete(actor: Actor, name: string, alias: string, ifMatch?: string): Promise<void> {
    const event: RecordedEvent = await this.dataSource.transaction(async (manager) => {
      const image = await this.catalogPort.imageIn(manager, name);
      const before = await this.aliases.find(image.id, alias, manager, true);
      if (!before) throw new DomainError('ALIAS_NOT_FOUND', `Image ${name} has no alias ${alias}.`);
      if (!ifMatchHolds(ifMatch, before))
        throw new DomainError(
          'ALIAS_PRECONDITION_FAILED',
          `If-Match does not match alias ${alias}.`,
        );
      await this.aliases.delete(manager, before.id);
      await this.streams.bumpRevision(manager);
      await this.audit.record(manager, {
        actor,
        action: 'alias.delete',
        targetType: 'alias',
        targetId: before.id,
        imageName: name,
        detail: { alias, version: before.version },
      });
      return this.events.record(manager, {
        type: 'alias.deleted',
        imageName: name,
        data: aliasDeletedData(
          name,
          { id: before.id, name: alias, version: before.version, versionId: before.versionId },
          this.events.actorOf(actor),
        ),
      });
    });
    await this.events.wake(event);
  }

  /** A ref names an exact published version first, else an alias. */
  async resolveRef(principal: Principal | null, name: string, ref: string): Promise<Manifest> {
    try {
      return await this.catalog.resolveRef(principal, name, ref);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'REF_NOT_FOUND') throw error;
      const image = await this.catalog.getImage(principal, name);
      const alias = await this.aliases.find(image.id, ref);
      if (!alias) throw error;
      return this.catalogPort.manifestById(alias.versionId);
    }
  }
}
