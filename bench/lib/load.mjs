// HTTP load at a fixed number of connections with autocannon (in this process), after a warm-up.
import autocannon from 'autocannon';

export async function load({ url, connections = 32, seconds, headers = {}, expectStatus = 200 }) {
  await autocannon({ url, connections, duration: 1, headers }); // warm-up: connections, caches, JIT
  const result = await autocannon({ url, connections, duration: seconds, headers });
  const expected = result.statusCodeStats?.[expectStatus]?.count ?? 0;
  const total = result.requests.total;
  if (result.errors || result.timeouts || expected !== total) {
    throw new Error(
      `load on ${url}: ${total} requests, ${expected} answered ${expectStatus}, ${result.errors} errors, ` +
        `${result.timeouts} timeouts, status codes ${JSON.stringify(result.statusCodeStats)}`,
    );
  }
  return { rps: total / result.duration, p50: result.latency.p50, p99: result.latency.p99, total };
}
