import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { REQUEST_DURATION_BUCKETS } from './metrics.service';
import { RequestMetrics } from './request-metrics';

const NAMES = {
  counter: 'test_requests_total',
  counterHelp: 'requests',
  histogram: 'test_request_duration_seconds',
  histogramHelp: 'durations',
};

/** The same observations into RequestMetrics and into prom-client's own Counter and Histogram. */
function both() {
  const mine = new Registry();
  const metrics = new RequestMetrics(mine, NAMES, REQUEST_DURATION_BUCKETS);
  const theirs = new Registry();
  const labelNames = ['method', 'route', 'status'] as const;
  const counter = new Counter({
    name: NAMES.counter,
    help: NAMES.counterHelp,
    labelNames,
    registers: [theirs],
  });
  const histogram = new Histogram({
    name: NAMES.histogram,
    help: NAMES.histogramHelp,
    labelNames,
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [theirs],
  });
  const observe = (method: string, route: string, status: number, seconds: number) => {
    metrics.observe(method, route, status, seconds);
    const labels = { method, route, status: String(status) };
    counter.inc(labels);
    histogram.observe(labels, seconds);
  };
  return { mine, theirs, observe };
}

/** Values exactly on a bound, between bounds, zero and above the last bound. */
function observeAFew(observe: ReturnType<typeof both>['observe']) {
  for (const seconds of [0, 0.0004, 0.001, 0.0011, 0.25, 0.3, 120, 121, 3600])
    observe('GET', '/streams/v1/images.json', 304, seconds);
  observe('GET', '/streams/v1/images.json', 200, 0.002);
  observe('PUT', '/v1/images/:name/aliases/:alias', 200, 0.04);
  observe('GET', '/streams/v1/images.json', 304, 0.0002);
}

describe('RequestMetrics', () => {
  it('exposes what prom-client’s Counter and Histogram expose for the same observations', async () => {
    const { mine, theirs, observe } = both();
    expect(await mine.metrics()).toBe(await theirs.metrics());
    observeAFew(observe);
    const text = await mine.metrics();
    expect(text).toContain(
      'test_request_duration_seconds_bucket{le="0.001",method="GET",route="/streams/v1/images.json",status="304"} 4',
    );
    expect(text).toBe(await theirs.metrics());
  });

  it('sums across processes as prom-client’s cluster aggregation sums its own metrics', async () => {
    const one = both();
    const two = both();
    observeAFew(one.observe);
    two.observe('GET', '/streams/v1/images.json', 304, 0.0001);
    two.observe('DELETE', '/v1/images/:name/aliases/:alias', 204, 0.01);
    const aggregate = async (kind: 'mine' | 'theirs') =>
      AggregatorRegistry.aggregate([
        await one[kind].getMetricsAsJSON(),
        await two[kind].getMetricsAsJSON(),
      ]).metrics();
    const summed = await aggregate('mine');
    expect(summed).toContain(
      'test_requests_total{method="GET",route="/streams/v1/images.json",status="304"} 11',
    );
    expect(summed).toBe(await aggregate('theirs'));
  });

  it('forgets its series on reset, like the registry’s other metrics', async () => {
    const { mine, theirs, observe } = both();
    observeAFew(observe);
    mine.resetMetrics();
    theirs.resetMetrics();
    expect(await mine.metrics()).toBe(await theirs.metrics());
  });
});
