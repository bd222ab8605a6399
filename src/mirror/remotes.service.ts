import { randomUUID, X509Certificate } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import { scopeGlobs } from '../auth/scope';
import { DomainError, type FieldError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import { CredentialsStore } from './credentials-store';
import { MirrorQueue } from './mirror.queue';
import {
  MirrorRepository,
  type RemoteFields,
  type RemoteRow,
  type SyncItemRow,
  type SyncRow,
} from './mirror.repository';
import { nextRun, parseSchedule, readerFilter, templateProblems } from './remote-fields';

export interface RemoteInput extends Omit<RemoteFields, 'nextSyncAt' | 'imageScope'> {
  readonly name: string;
  /** undefined: keep the stored one (on replace); null: none. */
  readonly password: string | null | undefined;
}

/** Remotes (create, read, replace, delete) and their syncs (start, read, cancel). */
@Injectable()
export class RemotesService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repo: MirrorRepository,
    private readonly credentials: CredentialsStore,
    private readonly queue: MirrorQueue,
    private readonly audit: AuditService,
  ) {}

  async create(actor: Actor, input: RemoteInput): Promise<RemoteRow> {
    this.check(input);
    const id = randomUUID();
    const sealed =
      input.password === null || input.password === undefined
        ? null
        : await this.credentials.seal(input.password, id);
    return this.dataSource.transaction(async (manager) => {
      const row = await this.repo.insertRemote(
        manager,
        id,
        input.name,
        this.fields(input, actor),
        sealed,
        actor.principal?.id ?? null,
      );
      if (!row) throw new DomainError('REMOTE_EXISTS', `A remote is called ${input.name} already.`);
      await this.audit.record(manager, {
        actor,
        action: 'remote.create',
        targetType: 'remote',
        targetId: row.id,
        detail: auditDetail(row),
      });
      return row;
    });
  }

  async get(name: string): Promise<RemoteRow> {
    const row = await this.repo.findRemote(name);
    if (!row) throw new DomainError('REMOTE_NOT_FOUND', `No remote is called ${name}.`);
    return row;
  }

  async list(limit: number, cursor?: string): Promise<Page<RemoteRow>> {
    return pageOf(await this.repo.listRemotes(limit, cursor), limit, (r) => [r.name]);
  }

  async replace(
    actor: Actor,
    name: string,
    input: RemoteInput,
    bodyName: string,
  ): Promise<RemoteRow> {
    if (bodyName !== name)
      throw DomainError.validation([
        {
          pointer: '/name',
          detail: `must be the remote's name in the path (${name}); a remote is not renamed`,
        },
      ]);
    this.check(input);
    const current = await this.get(name);
    const sealed =
      input.password === undefined
        ? undefined
        : input.password === null
          ? null
          : await this.credentials.seal(input.password, current.id);
    return this.dataSource.transaction(async (manager) => {
      const locked = await this.repo.findRemote(name, manager, true);
      if (!locked) throw new DomainError('REMOTE_NOT_FOUND', `No remote is called ${name}.`);
      const row = await this.repo.updateRemote(
        manager,
        locked.id,
        this.fields(input, actor),
        sealed,
      );
      await this.audit.record(manager, {
        actor,
        action: 'remote.update',
        targetType: 'remote',
        targetId: row.id,
        detail: { ...auditDetail(row), password_changed: sealed !== undefined },
      });
      return row;
    });
  }

  /** Deletes the remote and its sync history; what it mirrored stays in the catalog. */
  async delete(actor: Actor, name: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const row = await this.repo.findRemote(name, manager, true);
      if (!row) throw new DomainError('REMOTE_NOT_FOUND', `No remote is called ${name}.`);
      const live = await this.repo.liveSync(manager, row.id);
      if (live)
        throw new DomainError(
          'REMOTE_SYNC_RUNNING',
          `Remote ${name} has a sync ${live.state} (${live.id}); cancel it first.`,
          { sync_id: live.id },
        );
      await this.repo.deleteRemote(manager, row.id);
      await this.audit.record(manager, {
        actor,
        action: 'remote.delete',
        targetType: 'remote',
        targetId: row.id,
        detail: { name },
      });
    });
  }

  /** A new queued sync, or the one queued or running already (`created` false). */
  async startSync(actor: Actor, name: string): Promise<{ sync: SyncRow; created: boolean }> {
    const outcome = await this.dataSource.transaction(async (manager) => {
      const remote = await this.repo.findRemote(name, manager, true);
      if (!remote) throw new DomainError('REMOTE_NOT_FOUND', `No remote is called ${name}.`);
      const live = await this.repo.liveSync(manager, remote.id);
      if (live) return { id: live.id, created: false };
      const id = await this.repo.insertSync(
        manager,
        remote.id,
        'manual',
        actor.principal?.id ?? null,
      );
      if (!id) throw new Error('a sync appeared under the remote lock');
      await this.audit.record(manager, {
        actor,
        action: 'remote.sync',
        targetType: 'remote_sync',
        targetId: id,
        detail: { remote: name },
      });
      return { id, created: true };
    });
    if (outcome.created) await this.queue.wake(outcome.id);
    return { sync: (await this.repo.findSync(outcome.id)) as SyncRow, created: outcome.created };
  }

  async listSyncs(name: string, limit: number, cursor?: string): Promise<Page<SyncRow>> {
    const remote = await this.get(name);
    return pageOf(await this.repo.listSyncs(remote.id, limit, cursor), limit, (s) => [
      s.createdAt.toISOString(),
      s.id,
    ]);
  }

  async getSync(name: string, syncId: string): Promise<{ sync: SyncRow; items: SyncItemRow[] }> {
    const sync = await this.repo.findSync(syncId);
    if (!sync || sync.remoteName !== name)
      throw new DomainError('SYNC_NOT_FOUND', `Remote ${name} has no sync ${syncId}.`);
    return { sync, items: await this.repo.items(sync.id) };
  }

  /** A queued sync is cancelled at once; a running one stops at its next step or heartbeat. */
  async cancelSync(actor: Actor, name: string, syncId: string): Promise<SyncRow> {
    await this.dataSource.transaction(async (manager) => {
      const sync = await this.repo.findSync(syncId, manager, true);
      if (!sync || sync.remoteName !== name)
        throw new DomainError('SYNC_NOT_FOUND', `Remote ${name} has no sync ${syncId}.`);
      if (sync.state !== 'queued' && sync.state !== 'running')
        throw new DomainError('SYNC_FINISHED', `Sync ${syncId} has ${sync.state}.`, {
          state: sync.state,
        });
      await this.repo.requestCancel(manager, syncId);
      await this.audit.record(manager, {
        actor,
        action: 'remote.sync_cancel',
        targetType: 'remote_sync',
        targetId: syncId,
        detail: { remote: name },
      });
    });
    return (await this.repo.findSync(syncId)) as SyncRow;
  }

  /**
   * The settings as stored; the image scope is the configuring principal's: the patterns of its
   * grants holding remote.manage (every image for a principal-less caller, the server itself).
   */
  private fields(input: RemoteInput, actor: Actor): RemoteFields {
    const globs = actor.principal
      ? [...new Set(scopeGlobs(actor.principal, 'remote.manage'))]
      : ['*'];
    return {
      imageScope: globs.includes('*') ? ['*'] : globs.sort(),
      url: input.url,
      caPem: input.caPem,
      username: input.username,
      filters: input.filters,
      imageNameTemplate: input.imageNameTemplate,
      schedule: input.schedule,
      keepLatest: input.keepLatest,
      concurrency: input.concurrency,
      bandwidthLimitBps: input.bandwidthLimitBps,
      nextSyncAt: nextRun(input.schedule, new Date()),
    };
  }

  /** What the DTO's decorators cannot tell: the URL's shape, the PEM, the filters, the cron. */
  private check(input: RemoteInput): void {
    const errors: FieldError[] = [];
    try {
      const url = new URL(input.url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        errors.push({ pointer: '/url', detail: 'must be an http or https URL' });
      if (url.username || url.password)
        errors.push({
          pointer: '/url',
          detail: 'carries no credentials: use username and password',
        });
      if (url.search || url.hash)
        errors.push({ pointer: '/url', detail: 'names the tree root, without query or fragment' });
    } catch {
      errors.push({ pointer: '/url', detail: 'must be an absolute http or https URL' });
    }
    if (input.caPem !== null) {
      try {
        new X509Certificate(input.caPem);
      } catch {
        errors.push({ pointer: '/ca_pem', detail: 'must be a PEM X.509 certificate' });
      }
    }
    if (input.password !== null && input.password !== undefined && input.username === null)
      errors.push({ pointer: '/password', detail: 'needs a username' });
    try {
      readerFilter(input.filters);
    } catch (error) {
      errors.push({
        pointer: '/filters',
        detail: (error as Error).message.replace(/^--filter /, ''),
      });
    }
    errors.push(...templateProblems(input.imageNameTemplate));
    if (input.schedule !== null) {
      try {
        parseSchedule(input.schedule);
      } catch (error) {
        errors.push({ pointer: '/schedule', detail: (error as Error).message });
      }
    }
    if (errors.length) throw DomainError.validation(errors);
  }
}

/** What the audit log keeps of a remote: never its credentials. */
function auditDetail(row: RemoteRow): Record<string, unknown> {
  return {
    name: row.name,
    url: row.url,
    filters: row.filters,
    schedule: row.schedule,
    image_scope: row.imageScope,
    has_credentials: row.username !== null,
  };
}
