import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { pageOf, type Page } from '../common/pagination';
import type { Actor } from '../auth/actor';
import type { AuditEventInput } from './audit-event.input';
import { AuditEventRepository, type AuditEventFilter } from './audit-event.repository';
import type { AuditEventEntity } from './audit-event.entity';

/** Who an audit event names: the principal, or the server part acting on its own, and the request. */
export interface AuditAttribution {
  readonly principalId: string | null;
  readonly principalName: string | null;
  readonly requestId: string | null;
}

export function attributionOf(actor: Actor): AuditAttribution {
  return {
    principalId: actor.principal?.id ?? null,
    principalName: actor.principal?.displayName ?? actor.system ?? null,
    requestId: actor.requestId,
  };
}

/** The append-only record of every mutation: who, what, when, and the request that did it. */
@Injectable()
export class AuditService {
  constructor(private readonly events: AuditEventRepository) {}

  /** Records an event inside the caller's transaction, so it commits or rolls back with it. */
  async record(manager: EntityManager, event: AuditEventInput): Promise<void> {
    await this.events.insert(manager, {
      ...attributionOf(event.actor),
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      imageName: event.imageName ?? null,
      detail: { ...(event.detail ?? {}) },
    });
  }

  async list(
    filter: AuditEventFilter,
    limit: number,
    cursor?: string,
  ): Promise<Page<AuditEventEntity>> {
    const rows = await this.events.list(filter, limit, cursor);
    return pageOf(rows, limit, (e) => [Number(e.id)]);
  }
}
