import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Counter, Gauge, Histogram } from 'prom-client';
import { GaugeReadings } from '../common/metrics/gauge-reading';
import { MetricsService } from '../common/metrics/metrics.service';

type CountsByState = readonly { state: string; n: string }[];

/**
 * Publish metrics; the state gauges are read from PostgreSQL, the authority, so a supervisor's
 * API processes all see the same value and its aggregate takes one, not their sum. Jobs and steps
 * by state count whole tables (every publish ever made), so one reading answers scrapes for
 * IMGSRV_METRICS_MAX_AGE; the oldest step's age reads the few steps under way at every scrape.
 */
@Injectable()
export class PublishMetrics {
  readonly steps: Counter<'step' | 'outcome'>;
  readonly retries: Counter<'step'>;
  readonly takeovers: Counter;
  readonly stepDuration: Histogram<'step' | 'outcome'>;

  constructor(metrics: MetricsService, dataSource: DataSource, readings: GaugeReadings) {
    const registers = [metrics.registry];
    const counts = readings.of('publish jobs and steps', async () => {
      const [jobs, steps] = await Promise.all([
        dataSource.query<CountsByState>(
          `SELECT s.state, count(j.id) AS n FROM unnest(ARRAY['queued','running','succeeded','failed','cancelled']) AS s(state)
             LEFT JOIN publish_job j ON j.state = s.state GROUP BY s.state`,
        ),
        dataSource.query<CountsByState>(
          `SELECT s.state, count(p.job_id) AS n FROM unnest(ARRAY['queued','running','succeeded','failed','skipped']) AS s(state)
             LEFT JOIN publish_step p ON p.state = s.state GROUP BY s.state`,
        ),
      ]);
      return { jobs, steps };
    });
    // An age, so read at every scrape: a stale one would hide a stuck step. The steps are filtered
    // by a constant list of states before the join so that the partial index of steps under way
    // answers; joined on the state alone, the planner scanned every step ever run (about 20 ms at
    // 10,000 published versions in the scale bench's statement log).
    const oldest = readings.of(
      'oldest publish steps',
      () =>
        dataSource.query<{ state: string; age: number | null }[]>(
          `SELECT s.state, EXTRACT(EPOCH FROM now() - min(COALESCE(p.started_at, p.updated_at)))::float AS age
             FROM unnest(ARRAY['queued','running']) AS s(state)
             LEFT JOIN (SELECT p.state, p.started_at, p.updated_at FROM publish_step p
                         WHERE p.state IN ('queued', 'running')
                           AND (p.state = 'running' OR EXISTS (SELECT 1 FROM publish_job j
                                 WHERE j.id = p.job_id AND j.state IN ('queued','running')))) p
                    ON p.state = s.state
            GROUP BY s.state`,
        ),
      0,
    );
    this.steps = new Counter({
      name: 'imgsrv_publish_step_runs_total',
      help: 'Publish step attempts run by this process, by step and outcome',
      labelNames: ['step', 'outcome'],
      registers,
    });
    this.retries = new Counter({
      name: 'imgsrv_publish_step_retries_total',
      help: 'Automatic step retries scheduled',
      labelNames: ['step'],
      registers,
    });
    this.takeovers = new Counter({
      name: 'imgsrv_publish_lease_takeovers_total',
      help: 'Steps taken over after their lease expired',
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'imgsrv_publish_step_duration_seconds',
      help: 'Time one step attempt took, by step and outcome',
      labelNames: ['step', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    new Gauge({
      name: 'imgsrv_publish_jobs',
      aggregator: 'first',
      help: 'Publish jobs by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const read = await counts.current();
        if (read) for (const r of read.jobs) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'imgsrv_publish_steps',
      aggregator: 'first',
      help: 'Publish steps by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const read = await counts.current();
        if (read) for (const r of read.steps) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'imgsrv_publish_oldest_step_age_seconds',
      aggregator: 'max',
      help: 'Age of the oldest queued and of the oldest running step (0 when none)',
      labelNames: ['state'],
      registers,
      async collect() {
        const rows = await oldest.current();
        if (rows) for (const r of rows) this.set({ state: r.state }, r.age ?? 0);
      },
    });
  }
}
