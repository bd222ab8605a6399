// HTTP load at a fixed number of connections with autocannon (in this process), after a warm-up.
// By default the load lasts `seconds`. A large document takes seconds per answer, so a timed load
// counts only the two or three answers each connection finished in time (a quarter either way of
// the figure), and leaves out a connection the others starve. `counted` instead asks for a number
// of answers (about `seconds` worth at the warm-up's rate, at least 8 per connection), waits for
// every one of them, and divides by the time they took.
import autocannon from 'autocannon';

export async function load({
  url,
  connections = 32,
  seconds,
  counted = false,
  headers = {},
  expectStatus = 200,
}) {
  // Warm-up: connections, caches, JIT.
  const warm = await autocannon({ url, connections, duration: 1, headers });
  const perConnection = Math.max(
    8,
    Math.ceil((warm.requests.total / warm.duration) * (seconds / connections)),
  );
  const amount = counted ? perConnection * connections : undefined;
  const result = await autocannon({
    url,
    connections,
    headers,
    // autocannon notices the last answer at its next sample: every 50 ms rather than every second.
    ...(amount ? { amount, timeout: 120, sampleInt: 50 } : { duration: seconds }),
  });
  const expected = result.statusCodeStats?.[expectStatus]?.count ?? 0;
  const total = result.requests.total;
  if (result.errors || result.timeouts || expected !== total || (amount && total !== amount)) {
    throw new Error(
      `load on ${url}: ${total} requests, ${expected} answered ${expectStatus}, ${result.errors} errors, ` +
        `${result.timeouts} timeouts, status codes ${JSON.stringify(result.statusCodeStats)}`,
    );
  }
  return { rps: total / result.duration, p50: result.latency.p50, p99: result.latency.p99, total };
}
