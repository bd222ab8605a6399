import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { TestApp } from './test-app';
import { eventually } from './waiting';

/** Processes beside the app under test: its metrics, free ports, a Redis server of a test's own. */

/**
 * The value of one sample on the app's metrics listener, e.g.
 * `metric(app, 'imgsrv_publish_jobs{state="succeeded"}')`; undefined when absent.
 */
export async function metric(app: TestApp, sample: string): Promise<number | undefined> {
  const url = app.server.urls.metrics;
  if (!url) throw new Error('the app has no metrics listener');
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface DedicatedRedis {
  readonly url: string;
  readonly port: number;
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A redis-server of this test's own on a free port, without persistence: safe to FLUSHALL, which
 * the machine's shared Redis never is.
 */
export async function startDedicatedRedis(): Promise<DedicatedRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const cli = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const c = spawn('redis-cli', ['-p', String(port), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', reject);
      c.on('close', (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli exited ${code}`)),
      );
    });
  await eventually('the dedicated redis-server to answer', async () =>
    (await cli('PING')) === 'PONG' ? true : undefined,
  );
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    cli,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
