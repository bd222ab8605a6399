import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Counter, Gauge, Histogram } from 'prom-client';
import { GaugeReadings } from '../common/metrics/gauge-reading';
import { MetricsService } from '../common/metrics/metrics.service';

/**
 * Webhook metrics. The state gauge is read from PostgreSQL, as publish's are, so every process
 * reports the same value and a supervisor's aggregate takes one; it counts every delivery kept,
 * so one reading answers scrapes for IMGSRV_METRICS_MAX_AGE.
 */
@Injectable()
export class EventsMetrics {
  readonly attempts: Counter<'outcome'>;
  readonly latency: Histogram<'delivered'>;
  readonly takeovers: Counter;
  readonly disabled: Counter;

  constructor(metrics: MetricsService, dataSource: DataSource, readings: GaugeReadings) {
    const registers = [metrics.registry];
    const deliveries = readings.of('webhook deliveries', () =>
      dataSource.query<{ state: string; n: string }[]>(
        `SELECT s.state, count(d.id) AS n
           FROM unnest(ARRAY['pending','running','succeeded','failed','cancelled']) AS s(state)
           LEFT JOIN webhook_delivery d ON d.state = s.state GROUP BY s.state`,
      ),
    );
    this.attempts = new Counter({
      name: 'imgsrv_webhook_attempts_total',
      help: 'Webhook delivery attempts made by this process, by outcome (delivered, retry, failed, lease_lost)',
      labelNames: ['outcome'],
      registers,
    });
    this.latency = new Histogram({
      name: 'imgsrv_webhook_attempt_duration_seconds',
      help: 'Time from sending a delivery to the receiver’s answer (or the failure)',
      labelNames: ['delivered'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.takeovers = new Counter({
      name: 'imgsrv_webhook_lease_takeovers_total',
      help: 'Webhook deliveries taken over after their lease expired',
      registers,
    });
    this.disabled = new Counter({
      name: 'imgsrv_webhook_subscriptions_disabled_total',
      help: 'Webhook subscriptions this process disabled because they failed for a whole retry window',
      registers,
    });
    new Gauge({
      name: 'imgsrv_webhook_deliveries',
      aggregator: 'first',
      help: 'Webhook deliveries by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const rows = await deliveries.current();
        if (rows) for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
  }
}
