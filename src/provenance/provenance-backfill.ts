import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CatalogPort } from '../catalog/catalog-port';
import type { Logger } from '../common/logging/logger';
import { LOGGER } from '../common/logging/logging.module';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { ProvenanceService } from './provenance.service';
import { TransparencyLog } from './transparency-log';

/** One backfiller at a time across every worker process (pg_try_advisory_lock key). */
const BACKFILL_LOCK = 0x70726f76; // "prov"
const PAGE = 200;
/** Waits before each new try of the versions that were busy (about half a minute in all). */
const BUSY_RETRY_MS = [1000, 2000, 4000, 8000, 8000, 8000];

/**
 * Versions published before records existed (or while IMGSRV_PROVENANCE_RECORDS was false) get
 * their records when a worker starts: a publication record (and a withdrawal record for a
 * withdrawn version) with the facts the version row keeps, `job_id` null and `recorded_at` the time
 * of the backfill. Each version in its own transaction with its row locked; a version another
 * transaction holds is skipped (SKIP LOCKED) and tried again after the pass, so the backfill never
 * waits on a withdrawal or a retention batch.
 */
@Injectable()
export class ProvenanceBackfill implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly dataSource: DataSource,
    private readonly catalog: CatalogPort,
    private readonly provenance: ProvenanceService,
    private readonly log: TransparencyLog,
    private readonly events: EventsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.roles.worker || !this.config.provenance.records) return;
    this.run().catch((error: unknown) =>
      this.logger.error({ err: error }, 'provenance backfill failed; the next start tries again'),
    );
  }

  /** Records every served version that has none; the number recorded (0 if another process runs it). */
  async run(): Promise<number> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [
        BACKFILL_LOCK,
      ])) as { locked: boolean }[];
      if (!locked) return 0;
      try {
        return await this.backfill();
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [BACKFILL_LOCK]);
      }
    } finally {
      await runner.release();
    }
  }

  private async backfill(): Promise<number> {
    let recorded = 0;
    let busy: string[] = [];
    let after: { publishedAt: Date; id: string } | null = null;
    for (;;) {
      const page = await this.catalog.servedVersions(after, PAGE);
      if (page.length === 0) break;
      after = page[page.length - 1];
      const kinds = await this.log.recordedKinds(page.map((v) => v.id));
      const missing = page.filter(
        (v) =>
          !kinds.get(v.id)?.has('publication') ||
          (v.withdrawn && !kinds.get(v.id)?.has('withdrawal')),
      );
      for (const { id } of missing) {
        const outcome = await this.backfillVersion(id);
        if (outcome === 'recorded') recorded++;
        else if (outcome === 'busy') busy.push(id);
      }
    }
    // Versions another transaction held (a withdrawal under way): a few more tries after the
    // pass, then the next start.
    for (let pass = 0; pass < BUSY_RETRY_MS.length && busy.length > 0; pass++) {
      await new Promise((r) => setTimeout(r, BUSY_RETRY_MS[pass]));
      const again: string[] = [];
      for (const id of busy) {
        const outcome = await this.backfillVersion(id);
        if (outcome === 'recorded') recorded++;
        else if (outcome === 'busy') again.push(id);
      }
      busy = again;
    }
    if (recorded > 0)
      this.logger.info({ versions: recorded }, 'recorded versions published before their records');
    return recorded;
  }

  private backfillVersion(id: string): Promise<'recorded' | 'busy' | 'none'> {
    return this.dataSource.transaction(async (manager) => {
      // Never wait on a version another transaction is changing (SKIP LOCKED).
      const row = await this.catalog.lockVersionIfFree(manager, id);
      if (!row) return 'busy';
      if (row.state !== 'published' && row.state !== 'withdrawn') return 'none';
      const published = await this.log.hasRecord(manager, id, 'publication');
      const withdrawn =
        row.state !== 'withdrawn' || (await this.log.hasRecord(manager, id, 'withdrawal'));
      if (published && withdrawn) return 'none';
      const manifest = await this.catalog.manifestById(id, manager);
      const party = async (principalId: string | null) => {
        const actor = await this.events.actorById(manager, principalId);
        return actor.principalId === null ? null : { id: actor.principalId, name: actor.name };
      };
      if (!published)
        await this.provenance.recordPublication(manager, manifest, {
          jobId: null,
          publisher: await party(row.publishedBy),
          publishedAt: row.publishedAt as Date,
        });
      if (!withdrawn)
        await this.provenance.recordWithdrawal(manager, manifest, {
          by: await party(row.withdrawnBy),
          at: row.withdrawnAt as Date,
          reason: row.withdrawnReason ?? '',
          immediate: row.withdrawnImmediate,
        });
      return 'recorded';
    });
  }
}
