import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogLevel } from '../../config/app-config';
import { createLogger } from '../logging/logger';
import { MetricsService } from '../metrics/metrics.service';
import { writeHeldAnswer, type HeldAnswer } from './fast-answer';

const ANSWER: HeldAnswer = {
  status: 200,
  headers: { etag: '"x"', 'content-type': 'application/json' },
  body: Buffer.from('{}'),
};

/** One GET answered by writeHeldAnswer on a real loopback server, logging at `level`. */
async function answerOnce(level: LogLevel): Promise<{ lines: string[]; metrics: string }> {
  const lines: string[] = [];
  const logger = createLogger({ level, format: 'json' }, { write: (l: string) => lines.push(l) });
  const metrics = new MetricsService();
  const server: Server = createServer((req, res) =>
    writeHeldAnswer(req, res, ANSWER, '/held', performance.now(), metrics, logger),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) =>
      request({ port, host: '127.0.0.1', path: '/held?q=1' }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end(),
    );
    expect(body).toBe('{}');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return { lines, metrics: await metrics.registry.metrics() };
}

describe('writeHeldAnswer', () => {
  it('writes the request line at info, with the route and the URL as asked', async () => {
    const { lines, metrics } = await answerOnce('info');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ msg: 'request', route: '/held', url: '/held?q=1', status: 200 }),
    ]);
    expect(metrics).toMatch(/imgsrv_http_requests_total\{[^}]*route="\/held"[^}]*\} 1/);
  });

  it('writes no line above info, and still counts the request', async () => {
    const { lines, metrics } = await answerOnce('warn');
    expect(lines).toEqual([]);
    expect(metrics).toMatch(/imgsrv_http_requests_total\{[^}]*route="\/held"[^}]*\} 1/);
  });
});
