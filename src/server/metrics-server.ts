import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** What the listener exposes: a registry, or the supervisor's aggregate of its API processes. */
export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

/** The Prometheus listener: GET /metrics in the text exposition format, nothing else. */
export function createMetricsServer(registry: MetricsSource): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
}
