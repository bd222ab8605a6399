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

/**
 * Versions published before records existed (or while IMGSRV_PROVENANCE_RECORDS was false) get
 * their records when a worker starts: a publication record (and a withdrawal record for a
 * withdrawn version) with the facts the version row keeps, `job_id` null and `recorded_at` the time
 * of the backfill. Each version in its own transaction, its row locked so a withdrawal waits.
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
      for (const { id } of missing) if (await this.backfillVersion(id)) recorded++;
    }
    if (recorded > 0)
      this.logger.info({ versions: recorded }, 'recorded versions published before their records');
    return recorded;
  }

  private backfillVersion(id: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const row = await this.catalog.lockVersionById(manager, id);
      if (!row || (row.state !== 'published' && row.state !== 'withdrawn')) return false;
      const published = await this.log.hasRecord(manager, id, 'publication');
      const withdrawn =
        row.state !== 'withdrawn' || (await this.log.hasRecord(manager, id, 'withdrawal'));
      if (published && withdrawn) return false;
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
      return true;
    });
  }
}
