import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { DataSource } from 'typeorm';
import { GaugeReadings } from '../common/metrics/gauge-reading';
import { MetricsService } from '../common/metrics/metrics.service';

/**
 * Mirror metrics: bytes and items counted by the process that moved them; the last success per
 * remote is read from PostgreSQL at every scrape (a few rows), so every process reports the same
 * value, and a scrape while PostgreSQL is away keeps the last values.
 */
@Injectable()
export class MirrorMetrics {
  readonly bytesFetched: Counter<'remote'>;
  readonly items: Counter<'remote' | 'outcome'>;
  readonly duration: Histogram<'remote' | 'state'>;

  constructor(metrics: MetricsService, dataSource: DataSource, readings: GaugeReadings) {
    const registers = [metrics.registry];
    const lastSuccess = readings.of(
      'mirror remotes',
      () =>
        dataSource.query<{ name: string; at: Date | null }[]>(
          `SELECT name, last_success_at AS at FROM mirror_remote`,
        ),
      0,
    );
    this.bytesFetched = new Counter({
      name: 'imgsrv_mirror_bytes_fetched_total',
      help: 'Bytes this process fetched from upstream remotes into the store',
      labelNames: ['remote'],
      registers,
    });
    this.items = new Counter({
      name: 'imgsrv_mirror_items_total',
      help: 'Upstream files and versions a sync handled, by outcome (present, fetched, published, unchanged, failed, skipped)',
      labelNames: ['remote', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'imgsrv_mirror_sync_duration_seconds',
      help: 'How long syncs took, from claim to finish, by final state',
      labelNames: ['remote', 'state'],
      buckets: [1, 5, 15, 60, 300, 900, 3600, 14400],
      registers,
    });
    new Gauge({
      name: 'imgsrv_mirror_last_success_timestamp_seconds',
      aggregator: 'first',
      help: 'When each remote last finished a sync without a failed item (Unix time; 0: never)',
      labelNames: ['remote'],
      registers,
      async collect() {
        const rows = await lastSuccess.current();
        if (!rows) return;
        this.reset();
        for (const r of rows) this.set({ remote: r.name }, r.at ? r.at.getTime() / 1000 : 0);
      },
    });
  }
}
