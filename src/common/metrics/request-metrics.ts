import type { Registry } from 'prom-client';

type Labels = { readonly method: string; readonly route: string; readonly status: string };

interface Series {
  readonly labels: Labels;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly perBucket: Float64Array;
}

/** A metric as prom-client's registry reads it (get) and its cluster aggregation sums it. */
interface Exposed {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: {
    readonly labels: Readonly<Record<string, string | number>>;
    readonly value: number;
    readonly metricName?: string;
  }[];
}

interface CollectedMetric extends Omit<Exposed, 'values'> {
  get(): Promise<Exposed>;
  reset(): void;
}

/**
 * The request counter and latency histogram by method, route pattern and status, kept with a
 * plain map instead of prom-client's Counter and Histogram. prom-client validates and hashes the
 * labels on every call, which cost as much as the rest of a 304 from the streams fast path (about
 * a sixth of its throughput). Here a request is one map lookup and a few additions; the series
 * are turned into prom-client's exposition (the same names, labels and values its own Counter and
 * Histogram give, `le` first) only when scraped, and sum across a supervisor's API processes.
 */
export class RequestMetrics {
  /** Every series, in the order they first appeared (as prom-client lists them). */
  private series: Series[] = [];
  private byRoute = new Map<string, Map<string, Map<number, Series>>>();

  constructor(
    registry: Registry,
    private readonly names: {
      readonly counter: string;
      readonly counterHelp: string;
      readonly histogram: string;
      readonly histogramHelp: string;
    },
    private readonly bounds: readonly number[],
  ) {
    const reset = () => {
      this.series = [];
      this.byRoute = new Map();
    };
    const counter: CollectedMetric = {
      name: names.counter,
      help: names.counterHelp,
      type: 'counter',
      aggregator: 'sum',
      get: async () => this.counterValues(),
      reset,
    };
    const histogram: CollectedMetric = {
      name: names.histogram,
      help: names.histogramHelp,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => this.histogramValues(),
      reset,
    };
    // The registry reads metrics through get(), as it does the aggregates prom-client builds.
    for (const metric of [counter, histogram])
      registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    // Nested maps: a lookup per label, no key string built per request.
    let byMethod = this.byRoute.get(route);
    if (!byMethod) this.byRoute.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) {
      s = {
        labels: { method, route, status: String(status) },
        count: 0,
        sum: 0,
        perBucket: new Float64Array(this.bounds.length + 1),
      };
      byStatus.set(status, s);
      this.series.push(s);
    }
    s.count += 1;
    s.sum += seconds;
    let b = 0;
    while (b < this.bounds.length && seconds > this.bounds[b]) b++;
    s.perBucket[b] += 1;
  }

  private counterValues(): Exposed {
    return {
      name: this.names.counter,
      help: this.names.counterHelp,
      type: 'counter',
      aggregator: 'sum',
      values: this.series.map((s) => ({ labels: { ...s.labels }, value: s.count })),
    };
  }

  private histogramValues(): Exposed {
    const name = this.names.histogram;
    const values: Exposed['values'] = [];
    for (const s of this.series) {
      let cumulative = 0;
      for (let b = 0; b <= this.bounds.length; b++) {
        cumulative += s.perBucket[b];
        const le = b < this.bounds.length ? this.bounds[b] : '+Inf';
        values.push({
          labels: { le, ...s.labels },
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` });
    }
    return {
      name,
      help: this.names.histogramHelp,
      type: 'histogram',
      aggregator: 'sum',
      values,
    };
  }
}
