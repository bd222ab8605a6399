import { Injectable } from '@nestjs/common';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics';

/** Latency buckets of imgsrv_http_request_duration_seconds, in seconds. */
export const REQUEST_DURATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120,
];

/**
 * One Prometheus registry per application instance (tests run several in one process). Modules
 * add their own metrics to `registry`; HTTP metrics are recorded here with bounded labels only.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests: RequestMetrics;
  private readonly idleTimeouts: Counter;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'imgsrv_' });
    this.requests = new RequestMetrics(
      this.registry,
      {
        counter: 'imgsrv_http_requests_total',
        counterHelp: 'HTTP requests answered, by route pattern, method and status',
        histogram: 'imgsrv_http_request_duration_seconds',
        histogramHelp:
          'Time from request to the end of the response, by route pattern, method and status',
      },
      REQUEST_DURATION_BUCKETS,
    );
    this.idleTimeouts = new Counter({
      name: 'imgsrv_http_idle_timeouts_total',
      help:
        'Connections closed because the request under way moved no byte either way for ' +
        'IMGSRV_HTTP_IDLE_TIMEOUT (a stalled upload, a download the client stopped reading)',
      registers: [this.registry],
    });
  }

  countIdleTimeout(): void {
    this.idleTimeouts.inc();
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requests.observe(method, route, status, seconds);
  }
}
